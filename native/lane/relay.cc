// The relay of the native fast lane: polls, the command check, the response state machine, ejects.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lane.h"

namespace tglane {

napi_env g_env = nullptr;
uv_loop_t* g_loop = nullptr;
napi_ref g_cb = nullptr, g_infoRef = nullptr, g_statsRef = nullptr, g_boundsRef = nullptr;
napi_async_context g_ctx = nullptr;
double* g_info = nullptr;
double* g_stats = nullptr;
size_t g_statsLen = 0;
size_t g_stride = 0;
double* g_bounds = nullptr;
size_t g_nb = 0;
std::vector<Lane*> g_lanes(MAX_LANES, nullptr);
std::vector<Table*> g_tables(MAX_TABLES, nullptr);
std::vector<int> g_attached;

namespace {

std::string g_key;  // scratch for lookups

inline bool again() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// Slot of the COM_QUERY payload `p` (byte 0 = 0x03) in `table`, or -1.
int lookupShape(int table, const uint8_t* p, size_t len) {
  Table* t = g_tables[table];
  if (!t || t->shapes.empty()) return -1;
  for (unsigned o = 0; o < 4; o++) {
    if (!(t->optsMask & (1u << o))) continue;
    if (!shapeKeyOf(p + 1, len - 1, o, g_key)) continue;
    auto it = t->shapes.find(g_key);
    if (it != t->shapes.end()) return it->second;
  }
  return -1;
}

}  // namespace

static void onClient(uv_poll_t* h, int status, int events);
static void onBackend(uv_poll_t* h, int status, int events);

bool busy(const Lane* L) { return L->phase != PH_NONE || L->outLen > 0; }

void closePoll(uv_poll_t*& h, int& fd) {
  // uv_close stops the poll and removes the fd from epoll synchronously; only then is closing the
  // fd safe (a later dup may reuse its number).
  if (h) uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_poll_t*>(x); });
  h = nullptr;
  if (fd >= 0) close(fd);
  fd = -1;
}

void setPolls(Lane* L) {
  int ce = 0, be = 0;
  if (L->cb.size() < CAP) ce |= UV_READABLE;
  if (L->outLen) ce |= UV_WRITABLE;
  else be |= UV_READABLE;  // backpressure: no backend reads until the client took our bytes
  if (L->boutOff < L->bout.size()) be |= UV_WRITABLE;
  if (ce != L->cev) {
    if (ce) uv_poll_start(L->cpoll, ce, onClient);
    else uv_poll_stop(L->cpoll);
    L->cev = ce;
  }
  if (be != L->bev) {
    if (be) uv_poll_start(L->bpoll, be, onBackend);
    else uv_poll_stop(L->bpoll);
    L->bev = be;
  }
}

static napi_value bufferOrNull(napi_env env, const uint8_t* p, size_t n) {
  napi_value v;
  if (n == 0) {
    napi_get_null(env, &v);
    return v;
  }
  void* data;
  if (napi_create_buffer_copy(env, n, p, &data, &v) != napi_ok) napi_get_null(env, &v);
  return v;
}

void resetFlight(Lane* L) {
  L->phase = PH_NONE;
  L->colsLeft = L->colCount = 0;
  L->rows = 0;
  L->slot = -1;
  L->lastSeq = 0;
  L->bytesIn = L->bytesOut = 0;
}

// Detaches the lane fully, then tells JS. Callers return right after: the lane may be attached
// anew (by JS inside onEject) when this returns.
void eject(Lane* L, int reason) {
  const uint64_t now = uv_hrtime();
  double info[INFO_LEN] = {0};
  info[0] = L->phase;
  info[1] = L->phase == PH_COLDEFS ? double(L->colsLeft) : 0;
  info[2] = L->phase ? L->rows : 0;
  info[3] = L->completed;
  info[4] = L->lastRows;
  info[5] = L->lastStatus;
  info[6] = double(now - L->lastClientNs) / 1e6;
  info[7] = L->phase ? double(now - L->cmdNs) / 1e3 : 0;
  info[8] = L->phase ? L->slot : L->lastSlot;
  info[9] = L->lastUs;
  info[10] = L->phase >= PH_COLDEFS ? double(L->colCount) : 0;
  info[11] = L->phase ? L->lastSeq : 0;
  info[12] = L->phase ? L->bytesIn : 0;
  info[13] = double(L->outLen);  // extension: head of backendRest relayed but not yet written

  napi_env env = g_env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value args[6];
  napi_create_int32(env, L->id, &args[0]);
  napi_create_int32(env, reason, &args[1]);
  args[2] = bufferOrNull(env, L->cb.head(), L->cb.size());
  args[3] = bufferOrNull(env, L->bb.head(), L->bb.size());
  if (L->phase) {
    args[4] = bufferOrNull(env, L->cmd.data(), L->cmd.size());
  } else {
    napi_get_null(env, &args[4]);
  }

  // Fully detached before JS runs: JS may attach this lane id again inside onEject.
  closePoll(L->cpoll, L->cfd);
  closePoll(L->bpoll, L->bfd);
  L->cev = L->bev = 0;
  L->attached = false;
  {
    const size_t i = L->attachedIdx;
    const int last = g_attached.back();
    g_attached[i] = last;
    g_lanes[last]->attachedIdx = i;
    g_attached.pop_back();
  }
  L->cb.clear();
  L->bb.clear();
  L->outLen = 0;
  L->bout.clear();
  L->boutOff = 0;
  L->want = false;
  L->pending = 0;
  resetFlight(L);

  if (g_info) memcpy(g_info, info, sizeof info);
  napi_value cb, global, result;
  if (g_cb && napi_get_reference_value(env, g_cb, &cb) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    if (napi_make_callback(env, g_ctx, global, cb, 5, args, &result) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value ex;
        napi_get_and_clear_last_exception(env, &ex);
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static void addStats(int slot, double us, double rows, double bytesIn, double bytesOut) {
  if (slot < 0 || !g_stats || size_t(slot + 1) * g_stride > g_statsLen) return;
  double* s = g_stats + size_t(slot) * g_stride;
  if (s[0] == 0 || us < s[2]) s[2] = us;
  if (s[0] == 0 || us > s[3]) s[3] = us;
  s[0] += 1;
  s[1] += us;
  s[4] += rows;
  s[5] += bytesIn;
  s[6] += bytesOut;
  size_t b = 0;
  while (b < g_nb && us > g_bounds[b]) b++;
  s[7 + b] += 1;
}

// Relays the complete backend packets the in-flight statement allows, into outLen. Stops at a
// completion or at an eject point (sets pending; the packet there stays unparsed).
static void parse(Lane* L) {
  while (L->phase != PH_NONE && !L->pending) {
    const size_t pos = L->bb.off + L->outLen;
    const size_t avail = L->bb.end - pos;
    if (avail < 4) return;
    const uint8_t* h = L->bb.p + pos;
    const uint32_t len = u24(h);
    if (len == 0xffffff || len + 4 > CAP) {
      L->pending = RESPONSE;
      return;
    }
    if (avail < 4 + len) return;
    const uint8_t* p = h + 4;
    const uint8_t b0 = len ? p[0] : 0;
    switch (L->phase) {
      case PH_FIRST: {
        uint64_t cnt = 0;
        size_t used = 0;
        if (len == 0 || b0 == 0x00 || b0 == 0xff || b0 == 0xfb || b0 == 0xfe) {
          L->pending = RESPONSE;
          return;
        }
        if (b0 <= 0xfa) {
          cnt = b0;
          used = 1;
        } else if (b0 == 0xfc && len >= 3) {
          cnt = u16(p + 1);
          used = 3;
        } else if (b0 == 0xfd && len >= 4) {
          cnt = u24(p + 1);
          used = 4;
        }
        if (used == 0 || used != len || cnt == 0) {
          L->pending = RESPONSE;
          return;
        }
        L->colCount = L->colsLeft = cnt;
        L->phase = PH_COLDEFS;
        break;
      }
      case PH_COLDEFS:
        if (len == 0 || b0 == 0xff || (b0 == 0xfe && len < 9)) {
          L->pending = RESPONSE;
          return;
        }
        if (--L->colsLeft == 0) L->phase = PH_COLDEF_EOF;
        break;
      case PH_COLDEF_EOF:
        if (!(b0 == 0xfe && len == 5) || (u16(p + 3) & (0x0008 | 0x0040 | 0x4000))) {
          L->pending = RESPONSE;
          return;
        }
        L->phase = PH_ROWS;
        break;
      case PH_ROWS:
        if (len == 0 || b0 == 0xff) {
          L->pending = RESPONSE;
          return;
        }
        if (b0 == 0xfe && len < 9) {
          const uint32_t status = len == 5 ? u16(p + 3) : 0;
          if (len != 5 || u16(p + 1) != 0 || (status & ~uint32_t(0x0010 | 0x0020 | 0x0800)) != L->expect) {
            L->pending = RESPONSE;
            return;
          }
          L->outLen += 4 + len;
          L->bytesOut += 4 + len;
          const double us = double(uv_hrtime() - L->cmdNs) / 1e3;
          L->completed += 1;
          L->lastRows = L->rows;
          L->lastStatus = status;
          L->lastUs = us;
          L->lastSlot = L->slot;
          addStats(L->slot, us, L->rows, L->bytesIn, L->bytesOut);
          resetFlight(L);
          if (L->slowUs > 0 && us >= L->slowUs) L->pending = SLOW;
          else if (L->want) L->pending = REQUESTED;
          return;
        }
        L->rows += 1;
        break;
    }
    L->outLen += 4 + len;
    L->bytesOut += 4 + len;
    L->lastSeq = h[3];
  }
}

// Writes due command bytes to the backend. False when the lane was ejected (write error).
static bool flushBackend(Lane* L) {
  while (L->boutOff < L->bout.size()) {
    const ssize_t n = send(L->bfd, L->bout.data() + L->boutOff, L->bout.size() - L->boutOff, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (again()) return true;
      eject(L, BACKEND_WRITE);
      return false;
    }
    L->boutOff += size_t(n);
  }
  L->bout.clear();
  L->boutOff = 0;
  return true;
}

// Starts the command at the head of the client buffer: 1 sent, 0 incomplete, -1 ejected (declined).
static int dispatch(Lane* L) {
  const size_t avail = L->cb.size();
  if (avail < 4) return 0;
  const uint8_t* h = L->cb.head();
  const uint32_t len = u24(h);
  if (len == 0xffffff || len + 4 > CAP || h[3] != 0 || len == 0) {
    eject(L, DECLINED);
    return -1;
  }
  if (avail < 4 + len) return 0;
  const uint8_t* p = h + 4;
  int slot = -1;
  uint32_t backendId = 0;
  bool swap = false;
  if (p[0] == 0x17 && len >= 10 && p[5] == 0) {
    auto it = L->stmts.find(u32(p + 1));
    if (it != L->stmts.end()) {
      const Stmt& st = it->second;
      bool ok = true;
      if (st.numParams > 0) {
        const size_t at = 10 + ((size_t(st.numParams) + 7) >> 3);
        ok = len > at;
        if (ok) {
          const uint8_t bound = p[at];
          if (bound == 1) {
            ok = st.hasTypes && len >= at + 1 + 2 * size_t(st.numParams) &&
                 memcmp(p + at + 1, st.types.data(), 2 * size_t(st.numParams)) == 0;
          } else {
            ok = bound == 0;
          }
        }
      }
      if (ok) {
        slot = st.slot;
        backendId = st.backendId;
        swap = true;
      } else {
        slot = -2;
      }
    } else {
      slot = -2;
    }
  } else if (p[0] == 0x03) {
    slot = lookupShape(L->table, p, len);
    if (slot < 0) slot = -2;
  } else {
    slot = -2;
  }
  if (slot == -2) {
    eject(L, DECLINED);
    return -1;
  }
  L->cmd.assign(p, p + len);
  const size_t at = L->bout.size();
  L->bout.insert(L->bout.end(), h, h + 4 + len);
  if (swap) {
    uint8_t* q = L->bout.data() + at + 5;
    q[0] = uint8_t(backendId);
    q[1] = uint8_t(backendId >> 8);
    q[2] = uint8_t(backendId >> 16);
    q[3] = uint8_t(backendId >> 24);
  }
  L->cb.off += 4 + len;
  resetFlight(L);
  L->phase = PH_FIRST;
  L->slot = slot;
  L->bytesIn = 4 + len;
  L->cmdNs = L->lastClientNs;  // the read that completed the packet (or a later one when pipelined)
  return 1;
}

static void pump(Lane* L) {
  for (;;) {
    if (L->outLen) {
      ssize_t n = send(L->cfd, L->bb.head(), L->outLen, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (!again()) {
          eject(L, WRITE_ERROR);
          return;
        }
        n = 0;
      }
      L->bb.off += size_t(n);
      L->outLen -= size_t(n);
      if (L->outLen) break;  // wait for WRITABLE; backend reads stop meanwhile
    }
    if (L->pending) {
      eject(L, L->pending);
      return;
    }
    if (L->phase != PH_NONE) {
      parse(L);
      if (L->outLen || L->pending) continue;
      if (L->phase != PH_NONE) break;  // need more backend bytes
    }
    if (L->bb.size()) {
      eject(L, PROTOCOL);
      return;
    }
    if (L->want) {
      eject(L, REQUESTED);
      return;
    }
    const int r = dispatch(L);
    if (r < 0) return;
    if (r == 0) break;
    if (!flushBackend(L)) return;
  }
  setPolls(L);
}

static void onClient(uv_poll_t* h, int status, int events) {
  Lane* L = static_cast<Lane*>(h->data);
  if (!L->attached || L->cpoll != h) return;
  if (status < 0) {
    eject(L, CLIENT_CLOSED);
    return;
  }
  if (events & UV_READABLE) {
    const size_t room = L->cb.room(1024);
    if (room) {
      const ssize_t n = recv(L->cfd, L->cb.p + L->cb.end, room, MSG_DONTWAIT);
      if (n > 0) {
        L->cb.end += size_t(n);
        L->lastClientNs = uv_hrtime();
      } else if (n == 0 || !again()) {
        eject(L, CLIENT_CLOSED);
        return;
      }
    }
  }
  pump(L);
}

static void onBackend(uv_poll_t* h, int status, int events) {
  Lane* L = static_cast<Lane*>(h->data);
  if (!L->attached || L->bpoll != h) return;
  if (status < 0) {
    eject(L, BACKEND_CLOSED);
    return;
  }
  if ((events & UV_WRITABLE) && !flushBackend(L)) return;
  if ((events & UV_READABLE) && L->outLen == 0) {
    const size_t room = L->bb.room(4096);
    if (room) {
      const ssize_t n = recv(L->bfd, L->bb.p + L->bb.end, room, MSG_DONTWAIT);
      if (n > 0) {
        L->bb.end += size_t(n);
      } else if (n == 0 || !again()) {
        eject(L, BACKEND_CLOSED);
        return;
      }
    }
  }
  pump(L);
}

}  // namespace tglane
