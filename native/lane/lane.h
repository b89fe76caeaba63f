// tenantgate native fast lane: shared declarations. The JS contract (arguments, info/stats layouts,
// reasons) is documented in src/io/lane-native.ts. Single-threaded: every entry point runs on the
// loop thread of the one Node environment that called init().
#pragma once
#include <node_api.h>
#include <uv.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace tglane {

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

extern napi_env g_env;
extern uv_loop_t* g_loop;
extern napi_ref g_cb, g_infoRef, g_statsRef, g_boundsRef;
extern napi_async_context g_ctx;
extern double* g_info;  // JS arrays (held by references); native writes info, adds to stats
extern double* g_stats;
extern size_t g_statsLen;
extern size_t g_stride;
extern double* g_bounds;
extern size_t g_nb;
extern std::vector<Lane*> g_lanes;    // by lane id; never freed (ids are reused)
extern std::vector<Table*> g_tables;  // by table id
extern std::vector<int> g_attached;   // ids of attached lanes

inline uint32_t u24(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16); }
inline uint32_t u16(const uint8_t* p) { return p[0] | (p[1] << 8); }
inline uint32_t u32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }


// shape_key.cc: the key of COM_QUERY text s[0..n) (payload without its command byte), or false.
bool shapeKeyOf(const uint8_t* s, size_t n, unsigned opts, std::string& key);

// relay.cc
bool busy(const Lane* L);
void closePoll(uv_poll_t*& h, int& fd);
void setPolls(Lane* L);
void resetFlight(Lane* L);
void eject(Lane* L, int reason);

}  // namespace tglane
