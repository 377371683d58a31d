// Fuzzes the watch-stream decoder (common/kube/watch_decoder.h). The first byte picks a chunk
// size; the rest is the stream. Invariants: feeding the stream in chunks gives the same events
// and the same success as feeding it whole (chunk boundaries bear no meaning); after an error
// the decoder stays failed; ParseWatchEvent never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/kube/watch_decoder.h"

using kfaas::kube::WatchDecoder;
using kfaas::kube::WatchEvent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 17;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)kfaas::kube::ParseWatchEvent(stream);

  // A small document limit also exercises the "too large" path.
  size_t limit = data[0] & 0x80 ? 64 : WatchDecoder::kDefaultMaxDocumentBytes;
  WatchDecoder whole(limit);
  std::vector<WatchEvent> a;
  bool whole_ok = whole.Feed(stream, &a).ok();

  WatchDecoder pieces(limit);
  std::vector<WatchEvent> b;
  bool pieces_ok = true;
  for (size_t i = 0; i < stream.size() && pieces_ok; i += chunk) {
    pieces_ok = pieces.Feed(stream.substr(i, chunk), &b).ok();
  }
  if (whole_ok != pieces_ok) abort();
  if (a.size() != b.size()) abort();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type != b[i].type || a[i].object != b[i].object) abort();
  }
  if (!whole_ok && whole.Feed("{\"type\":\"ADDED\",\"object\":{}}\n", &a).ok()) abort();
  if (whole_ok) (void)whole.Finish();
  return 0;
}
