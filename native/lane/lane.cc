// tenantgate native fast lane: relays approved MySQL statements between a client fd and a backend fd
// entirely in C++ on the main libuv loop, and hands the session back to JS ("eject") on anything
// else. The JS contract (arguments, info/stats layouts, reasons) is documented in
// src/io/lane-native.ts; this file follows it. Single-threaded: every entry point runs on the loop
// thread of the one Node environment that called init().
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <unordered_map>
#include <initializer_list>
#include <vector>

namespace {

constexpr size_t CAP = 64 * 1024;  // per-direction buffer cap; larger packets go to JS
constexpr int MAX_LANES = 65536;
constexpr int MAX_TABLES = 4096;
constexpr size_t MAX_KEYED = 2048;
constexpr int INFO_LEN = 16;

enum Reason {
  DECLINED = 1, RESPONSE, SLOW, CLIENT_CLOSED, BACKEND_CLOSED, DETACH, IDLE, BUSY_LONG,
  WRITE_ERROR, BACKEND_WRITE, PROTOCOL, REQUESTED
};
enum Phase { PH_NONE = 0, PH_FIRST, PH_COLDEFS, PH_COLDEF_EOF, PH_ROWS };

// Bytes [off, end) of p are held. Grows lazily (first to `initial`, then doubling) up to CAP.
struct Buf {
  uint8_t* p = nullptr;
  size_t off = 0, end = 0, alloc = 0;
  size_t size() const { return end - off; }
  const uint8_t* head() const { return p + off; }
  // Free bytes after end (compacting / growing first); 0 when CAP bytes are held.
  size_t room(size_t initial) {
    if (off == end) off = end = 0;
    if (end < alloc) return alloc - end;
    if (off > 0) {
      memmove(p, p + off, end - off);
      end -= off;
      off = 0;
      if (end < alloc) return alloc - end;
    }
    if (alloc >= CAP) return 0;
    size_t n = alloc ? alloc * 2 : initial;
    if (n > CAP) n = CAP;
    uint8_t* q = static_cast<uint8_t*>(realloc(p, n));
    if (!q) return 0;
    p = q;
    alloc = n;
    return alloc - end;
  }
  // Forget the contents; give big buffers back (most lanes carry small statements).
  void clear() {
    off = end = 0;
    if (alloc > 8192) {
      free(p);
      p = nullptr;
      alloc = 0;
    }
  }
};

struct Stmt {
  uint32_t backendId = 0;
  uint32_t numParams = 0;
  bool hasTypes = false;
  std::string types;  // 2 * numParams bytes when hasTypes
  int slot = -1;
};

struct Lane {
  int id = 0;
  bool attached = false;
  int cfd = -1, bfd = -1;            // our dups
  uv_poll_t* cpoll = nullptr;
  uv_poll_t* bpoll = nullptr;
  int cev = 0, bev = 0;              // events currently polled
  int table = 0;
  uint32_t expect = 0;
  double slowUs = 0;
  std::unordered_map<uint32_t, Stmt> stmts;  // survives ejects; JS clears
  Buf cb;                            // client bytes not yet consumed
  Buf bb;                            // backend bytes: [off, off+outLen) due to the client, then unparsed
  size_t outLen = 0;
  std::vector<uint8_t> bout;         // command bytes due to the backend
  size_t boutOff = 0;
  // in flight
  int phase = PH_NONE;
  uint64_t colsLeft = 0, colCount = 0;
  double rows = 0;
  int slot = -1;
  int lastSeq = 0;
  double bytesIn = 0, bytesOut = 0;
  uint64_t cmdNs = 0;
  std::vector<uint8_t> cmd;          // the in-flight command as the client sent it
  // since attach
  double completed = 0, lastRows = 0, lastStatus = 0, lastUs = 0;
  int lastSlot = -1;
  uint64_t lastClientNs = 0;
  bool want = false;                 // requestEject pending
  int pending = 0;                   // eject reason due once the client output is written
  size_t attachedIdx = 0;
};

struct Table {
  std::unordered_map<std::string, int> shapes;  // full key bytes -> slot
  unsigned optsMask = 0;                        // which opts values shapes were added with
};

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
std::string g_key;  // scratch

inline uint32_t u24(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); }
inline uint32_t u16(const uint8_t* p) { return p[0] | (p[1] << 8); }
inline uint32_t u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
inline bool again() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// ---------------------------------------------------------------------------------------------
// Shape key: a strict subset of src/classify/literal-free-key.ts. Every byte but literals is kept;
// a literal becomes 0x00 0x01 (0x00 never occurs in kept bytes: control bytes reject). Anything
// the JS key reads differently, or that this loop does not follow exactly, rejects.

inline bool wordish(uint8_t c) {  // JS cls != 0: letters, digits, _, $, >= 0x80
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c >= 0x80;
}
inline bool isDigit(uint8_t c) { return c >= '0' && c <= '9'; }
inline bool isSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// A byte allowed inside quotes.
inline bool quotedOk(uint8_t c, bool hi) { return c >= 0x80 ? hi : (c >= 0x20 || isSpace(c)); }

bool shapeKeyOf(const uint8_t* s, size_t n, unsigned opts, std::string& key) {
  if (n > MAX_KEYED) return false;
  const bool esc = !(opts & 1), hi = (opts & 2) != 0;
  key.clear();
  key.push_back(char(0x10 | (opts & 3)));  // keys made with other opts never compare equal
  uint8_t sig = ' ';                         // last non-space byte kept (0x27 after a literal)
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    if (isSpace(c)) {
      key.push_back(char(c));
      i++;
      continue;
    }
    if (c < 0x20 || c >= 0x80) return false;
    if (isDigit(c)) {
      const uint8_t p = i ? s[i - 1] : ' ';
      size_t e = i + 1;
      while (e < n && isDigit(s[e])) e++;
      const uint8_t nx = e < n ? s[e] : ' ';
      if (wordish(p) || p == '.' || p == '@' || sig == '.' || sig == '@' || wordish(nx) || nx == '.' ||
          nx == '@') {
        key.append(reinterpret_cast<const char*>(s + i), e - i);
        sig = c;
      } else {
        key.push_back('\0');
        key.push_back('\1');
        sig = '\'';
      }
      i = e;
      continue;
    }
    if (c == '\'') {
      const uint8_t p = i ? s[i - 1] : ' ';
      if (wordish(p) || p == '@') return false;  // X'', N'', _cs'' and @'name' read differently
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        const uint8_t d = s[j];
        if (!quotedOk(d, hi)) return false;
        if (d == '\'') {
          if (j + 1 < n && s[j + 1] == '\'') {
            j += 2;
            continue;
          }
          closed = true;
          j++;
          break;
        }
        if (d == '\\' && esc) {
          if (j + 1 < n && !quotedOk(s[j + 1], hi)) return false;
          j += 2;
          continue;
        }
        j++;
      }
      if (!closed) return false;
      if (j < n && s[j] == '@') return false;  // 'user'@'host'
      key.push_back('\0');
      key.push_back('\1');
      sig = '\'';
      i = j;
      continue;
    }
    if (c == '`') {
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        const uint8_t d = s[j];
        if (!quotedOk(d, hi)) return false;
        if (d == '`') {
          if (j + 1 < n && s[j + 1] == '`') {
            j += 2;
            continue;
          }
          closed = true;
          j++;
          break;
        }
        j++;
      }
      if (!closed) return false;
      key.append(reinterpret_cast<const char*>(s + i), j - i);
      sig = '`';
      i = j;
      continue;
    }
    if (c == '"' || c == '#' || c == '@' || c == ';' || c == '?') return false;
    if (c == '-' && i + 1 < n && s[i + 1] == '-') return false;
    if (c == '/' && i + 1 < n && s[i + 1] == '*') return false;
    key.push_back(char(c));
    sig = c;
    i++;
  }
  return true;
}

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

// ---------------------------------------------------------------------------------------------
// Lanes

void onClient(uv_poll_t* h, int status, int events);
void onBackend(uv_poll_t* h, int status, int events);

inline bool busy(const Lane* L) { return L->phase != PH_NONE || L->outLen > 0; }

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

napi_value bufferOrNull(napi_env env, const uint8_t* p, size_t n) {
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

void addStats(int slot, double us, double rows, double bytesIn, double bytesOut) {
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
void parse(Lane* L) {
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
bool flushBackend(Lane* L) {
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
int dispatch(Lane* L) {
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

void pump(Lane* L) {
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

void onClient(uv_poll_t* h, int status, int events) {
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

void onBackend(uv_poll_t* h, int status, int events) {
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

// ---------------------------------------------------------------------------------------------
// N-API glue

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

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
