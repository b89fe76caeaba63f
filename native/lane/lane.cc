// tenantgate native fast lane: N-API entry points (argument checks) over relay.cc. The JS contract
// is documented in src/io/lane-native.ts.
#include <fcntl.h>
#include <unistd.h>

#include <initializer_list>

#include "lane.h"

namespace tglane {
namespace {

napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}
napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

bool args(napi_env env, napi_callback_info ci, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, ci, &argc, argv, nullptr, nullptr) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

bool num(napi_env env, napi_value v, double& out, const char* what) {
  if (napi_get_value_double(env, v, &out) != napi_ok) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  return true;
}

bool intIn(napi_env env, napi_value v, double lo, double hi, int64_t& out, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= lo && d <= hi) || d != double(int64_t(d))) {
    napi_throw_range_error(env, nullptr, what);
    return false;
  }
  out = int64_t(d);
  return true;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

bool bytes(napi_env env, napi_value v, const uint8_t*& p, size_t& n, const char* what) {
  bool isBuf = false;
  void* data = nullptr;
  if (napi_is_buffer(env, v, &isBuf) != napi_ok || !isBuf || napi_get_buffer_info(env, v, &data, &n) != napi_ok) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  p = static_cast<const uint8_t*>(data);
  return true;
}

bool f64(napi_env env, napi_value v, double*& p, size_t& n, const char* what) {
  bool isTa = false;
  napi_typedarray_type type;
  void* data = nullptr;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &isTa) != napi_ok || !isTa ||
      napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok || type != napi_float64_array) {
    napi_throw_type_error(env, nullptr, what);
    return false;
  }
  p = static_cast<double*>(data);
  return true;
}

Lane* laneArg(napi_env env, napi_value v, bool create) {
  int64_t id;
  if (!intIn(env, v, 0, MAX_LANES - 1, id, "lane must be an integer 0..65535")) return nullptr;
  Lane* L = g_lanes[id];
  if (!L && create) {
    L = new Lane();
    L->id = int(id);
    g_lanes[id] = L;
  }
  return L;
}

bool tableArg(napi_env env, napi_value v, int& t) {
  int64_t id;
  if (!intIn(env, v, 0, MAX_TABLES - 1, id, "table must be an integer 0..4095")) return false;
  t = int(id);
  return true;
}

bool exceptionPending(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending;
}

bool initDone(napi_env env) {
  if (g_env) return true;
  napi_throw_error(env, nullptr, "tenantgate_lane: init() first");
  return false;
}

napi_value Init_(napi_env env, napi_callback_info ci) {
  napi_value a[5];
  if (!args(env, ci, 5, a)) return nullptr;
  if (g_env && g_env != env) {
    // lanes, tables and the callback are process-global and live on one loop
    napi_throw_error(env, nullptr, "tenantgate_lane: init() from a second environment (worker); use it from the main thread only");
    return nullptr;
  }
  napi_valuetype t;
  napi_typeof(env, a[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, nullptr, "onEject must be a function");
    return nullptr;
  }
  double* info;
  size_t infoLen;
  if (!f64(env, a[1], info, infoLen, "info must be a Float64Array")) return nullptr;
  if (infoLen < INFO_LEN) {
    napi_throw_range_error(env, nullptr, "info must have at least 16 elements");
    return nullptr;
  }
  double* stats;
  size_t statsLen;
  if (!f64(env, a[2], stats, statsLen, "stats must be a Float64Array")) return nullptr;
  int64_t stride;
  if (!intIn(env, a[3], 1, 1e9, stride, "stride must be a positive integer")) return nullptr;
  double* bounds;
  size_t nb;
  if (!f64(env, a[4], bounds, nb, "bounds must be a Float64Array")) return nullptr;
  if (size_t(stride) < 8 + nb) {
    napi_throw_range_error(env, nullptr, "stride must be >= 8 + bounds.length");
    return nullptr;
  }
  // Hold the arrays: native code keeps raw pointers into their memory.
  for (napi_ref* r : {&g_cb, &g_infoRef, &g_statsRef, &g_boundsRef})
    if (*r) napi_delete_reference(env, *r);
  napi_create_reference(env, a[0], 1, &g_cb);
  napi_create_reference(env, a[1], 1, &g_infoRef);
  napi_create_reference(env, a[2], 1, &g_statsRef);
  napi_create_reference(env, a[4], 1, &g_boundsRef);
  if (!g_ctx) {
    napi_value res, name;
    napi_create_object(env, &res);
    napi_create_string_utf8(env, "tenantgate.lane", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, res, name, &g_ctx);
  }
  napi_get_uv_event_loop(env, &g_loop);
  g_env = env;
  g_info = info;
  g_stats = stats;
  g_statsLen = statsLen;
  g_stride = size_t(stride);
  g_bounds = bounds;
  g_nb = nb;
  return undef(env);
}

napi_value Attach(napi_env env, napi_callback_info ci) {
  napi_value a[6];
  if (!args(env, ci, 6, a) || !initDone(env)) return nullptr;
  Lane* L = laneArg(env, a[0], true);
  if (!L) return nullptr;
  int64_t cfd, bfd, expect;
  int table;
  double slowUs;
  if (!intIn(env, a[1], 0, 1 << 30, cfd, "clientFd must be a file descriptor") ||
      !intIn(env, a[2], 0, 1 << 30, bfd, "backendFd must be a file descriptor") || !tableArg(env, a[3], table) ||
      !intIn(env, a[4], 0, 0xffff, expect, "expectStatus must be 0..65535") || !num(env, a[5], slowUs, "slowUs must be a number"))
    return nullptr;
  if (L->attached) return boolean(env, false);
  const int c = fcntl(int(cfd), F_DUPFD_CLOEXEC, 0);
  if (c < 0) return boolean(env, false);
  const int b = fcntl(int(bfd), F_DUPFD_CLOEXEC, 0);
  if (b < 0) {
    close(c);
    return boolean(env, false);
  }
  uv_poll_t* cp = new uv_poll_t;
  uv_poll_t* bp = new uv_poll_t;
  const bool cok = uv_poll_init(g_loop, cp, c) == 0;
  const bool bok = uv_poll_init(g_loop, bp, b) == 0;
  if (!cok || !bok) {
    int cc = c, bc = b;
    if (cok) closePoll(cp, cc); else { delete cp; close(c); }
    if (bok) closePoll(bp, bc); else { delete bp; close(b); }
    return boolean(env, false);
  }
  cp->data = bp->data = L;
  L->cpoll = cp;
  L->bpoll = bp;
  L->cfd = c;
  L->bfd = b;
  L->cev = L->bev = 0;
  L->table = table;
  L->expect = uint32_t(expect);
  L->slowUs = slowUs;
  L->cb.off = L->cb.end = 0;
  L->bb.off = L->bb.end = 0;
  L->outLen = 0;
  L->bout.clear();
  L->boutOff = 0;
  resetFlight(L);
  L->completed = L->lastRows = L->lastStatus = L->lastUs = 0;
  L->lastSlot = -1;
  L->lastClientNs = uv_hrtime();
  L->want = false;
  L->pending = 0;
  L->attached = true;
  L->attachedIdx = g_attached.size();
  g_attached.push_back(L->id);
  setPolls(L);
  return boolean(env, true);
}

napi_value SetStmt(napi_env env, napi_callback_info ci) {
  napi_value a[6];
  if (!args(env, ci, 6, a)) return nullptr;
  Lane* L = laneArg(env, a[0], true);
  if (!L) return nullptr;
  int64_t cid, bid, np, slot;
  if (!intIn(env, a[1], 0, 4294967295.0, cid, "clientId must be a u32") ||
      !intIn(env, a[2], 0, 4294967295.0, bid, "backendId must be a u32") ||
      !intIn(env, a[3], 0, 65535, np, "numParams must be 0..65535") ||
      !intIn(env, a[5], -1, 1e9, slot, "slot must be an integer >= -1"))
    return nullptr;
  Stmt st;
  st.backendId = uint32_t(bid);
  st.numParams = uint32_t(np);
  st.slot = int(slot);
  if (!isNullish(env, a[4])) {
    const uint8_t* p;
    size_t n;
    if (!bytes(env, a[4], p, n, "types must be a Buffer or null")) return nullptr;
    if (n != 2 * size_t(np)) {
      napi_throw_range_error(env, nullptr, "types must hold 2 * numParams bytes");
      return nullptr;
    }
    st.hasTypes = true;
    st.types.assign(reinterpret_cast<const char*>(p), n);
  }
  L->stmts[uint32_t(cid)] = std::move(st);
  return undef(env);
}

napi_value DropStmt(napi_env env, napi_callback_info ci) {
  napi_value a[2];
  if (!args(env, ci, 2, a)) return nullptr;
  Lane* L = laneArg(env, a[0], false);
  if (exceptionPending(env)) return nullptr;
  int64_t cid;
  if (!intIn(env, a[1], 0, 4294967295.0, cid, "clientId must be a u32")) return nullptr;
  if (L) L->stmts.erase(uint32_t(cid));
  return undef(env);
}

napi_value ClearStmts(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  if (!args(env, ci, 1, a)) return nullptr;
  Lane* L = laneArg(env, a[0], false);
  if (exceptionPending(env)) return nullptr;
  if (L) L->stmts.clear();
  return undef(env);
}

napi_value AddShape(napi_env env, napi_callback_info ci) {
  napi_value a[4];
  if (!args(env, ci, 4, a)) return nullptr;
  int table;
  const uint8_t* p;
  size_t n;
  int64_t slot, opts;
  if (!tableArg(env, a[0], table) || !bytes(env, a[1], p, n, "payload must be a Buffer") ||
      !intIn(env, a[2], 0, 1e9, slot, "slot must be a non-negative integer") ||
      !intIn(env, a[3], 0, 3, opts, "opts must be 0..3"))
    return nullptr;
  if (n < 1 || p[0] != 0x03) return boolean(env, false);
  std::string key;
  if (!shapeKeyOf(p + 1, n - 1, unsigned(opts), key)) return boolean(env, false);
  Table*& t = g_tables[table];
  if (!t) t = new Table();
  t->shapes[std::move(key)] = int(slot);
  t->optsMask |= 1u << unsigned(opts);
  return boolean(env, true);
}

napi_value ClearShapes(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  if (!args(env, ci, 1, a)) return nullptr;
  int table;
  if (!tableArg(env, a[0], table)) return nullptr;
  delete g_tables[table];
  g_tables[table] = nullptr;
  return undef(env);
}

napi_value ClearAllShapes(napi_env env, napi_callback_info ci) {
  for (auto& t : g_tables) {
    delete t;
    t = nullptr;
  }
  return undef(env);
}

napi_value ShapeKey(napi_env env, napi_callback_info ci) {
  napi_value a[2];
  if (!args(env, ci, 2, a)) return nullptr;
  const uint8_t* p;
  size_t n;
  int64_t opts;
  if (!bytes(env, a[0], p, n, "payload must be a Buffer") || !intIn(env, a[1], 0, 3, opts, "opts must be 0..3"))
    return nullptr;
  napi_value v;
  std::string key;
  if (n < 1 || p[0] != 0x03 || !shapeKeyOf(p + 1, n - 1, unsigned(opts), key)) {
    napi_get_null(env, &v);
    return v;
  }
  void* data;
  napi_create_buffer_copy(env, key.size(), key.data(), &data, &v);
  return v;
}

// The attached lane named by the first argument, or null (also when the id is bad: then throws).
Lane* attachedArg(napi_env env, napi_callback_info ci, napi_value* a, size_t want) {
  if (!args(env, ci, want, a)) return nullptr;
  Lane* L = laneArg(env, a[0], false);
  return L && L->attached ? L : nullptr;
}

napi_value Detach(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  Lane* L = attachedArg(env, ci, a, 1);
  if (exceptionPending(env)) return nullptr;
  if (!L) return boolean(env, false);
  eject(L, DETACH);
  return boolean(env, true);
}

napi_value RequestEject(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  Lane* L = attachedArg(env, ci, a, 1);
  if (exceptionPending(env)) return nullptr;
  if (!L) return undef(env);
  if (busy(L)) L->want = true;
  else eject(L, REQUESTED);
  return undef(env);
}

napi_value Sweep(napi_env env, napi_callback_info ci) {
  napi_value a[2];
  if (!args(env, ci, 2, a)) return nullptr;
  double idleMs, busyMs;
  if (!num(env, a[0], idleMs, "idleMs must be a number") || !num(env, a[1], busyMs, "busyMs must be a number"))
    return nullptr;
  const uint64_t now = uv_hrtime();
  const std::vector<int> ids = g_attached;  // ejects (and onEject) change the list
  int n = 0;
  for (int id : ids) {
    Lane* L = g_lanes[id];
    if (!L || !L->attached) continue;
    if (busy(L)) {
      if (double(now - L->cmdNs) / 1e6 >= busyMs) {
        eject(L, BUSY_LONG);
        n++;
      }
    } else if (double(now - L->lastClientNs) / 1e6 >= idleMs) {
      eject(L, IDLE);
      n++;
    }
  }
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

napi_value IsAttached(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  Lane* L = attachedArg(env, ci, a, 1);
  if (exceptionPending(env)) return nullptr;
  return boolean(env, L != nullptr);
}

napi_value IsBusy(napi_env env, napi_callback_info ci) {
  napi_value a[1];
  Lane* L = attachedArg(env, ci, a, 1);
  if (exceptionPending(env)) return nullptr;
  return boolean(env, L != nullptr && busy(L));
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"init", nullptr, Init_, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attach", nullptr, Attach, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setStmt", nullptr, SetStmt, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"dropStmt", nullptr, DropStmt, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"clearStmts", nullptr, ClearStmts, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"addShape", nullptr, AddShape, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"clearShapes", nullptr, ClearShapes, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"clearAllShapes", nullptr, ClearAllShapes, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"shapeKey", nullptr, ShapeKey, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"detach", nullptr, Detach, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"requestEject", nullptr, RequestEject, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sweep", nullptr, Sweep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"isAttached", nullptr, IsAttached, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"isBusy", nullptr, IsBusy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace
}  // namespace tglane

NAPI_MODULE(NODE_GYP_MODULE_NAME, tglane::ModuleInit)
