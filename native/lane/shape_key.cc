// Shape key of COM_QUERY text for the native fast lane (see shapeKeyOf below).
#include "lane.h"

namespace tglane {

// Shape key: a strict subset of src/classify/literal-free-key.ts. Every byte but literals is kept;
// a literal becomes 0x00 0x01 (0x00 never occurs in kept bytes: control bytes reject). Anything
// the JS key reads differently, or that this loop does not follow exactly, rejects.

static inline bool wordish(uint8_t c) {  // JS cls != 0: letters, digits, _, $, >= 0x80
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c >= 0x80;
}
static inline bool isDigit(uint8_t c) { return c >= '0' && c <= '9'; }
static inline bool isSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// A byte allowed inside quotes.
static inline bool quotedOk(uint8_t c, bool hi) { return c >= 0x80 ? hi : (c >= 0x20 || isSpace(c)); }

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

}  // namespace tglane
