// WatchDecoder: the incremental decoder for the watch wire format.
//
// A watch response body is a sequence of JSON documents {"type": "...", "object": {...}}, one per
// event, each followed by a newline (the API server writes them with a json.Encoder). Chunk
// boundaries of the HTTP transfer bear no relation to event boundaries: one chunk may hold half
// an event or several. The decoder frames documents by JSON structure (brace depth outside
// strings), so it needs no newline and never re-scans bytes it has already seen.
//
// A malformed document (bad JSON, not an object, unknown "type", missing "object") is an error
// that ends the stream; the decoder stays failed afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kube/client.h"

namespace kfaas::kube {

// Decodes one complete document.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view document);

class WatchDecoder {
 public:
  // Documents larger than this are refused (a runaway or hostile server).
  static constexpr size_t kDefaultMaxDocumentBytes = 64u << 20;

  explicit WatchDecoder(size_t max_document_bytes = kDefaultMaxDocumentBytes)
      : max_document_bytes_(max_document_bytes) {}

  // Appends `chunk` and moves every event it completes into `out` (in order). On error, events
  // completed before the bad document are still appended.
  absl::Status Feed(std::string_view chunk, std::vector<WatchEvent>* out);
  // At the end of the body: an error if a partial document is left over.
  absl::Status Finish() const;
  // Bytes held for an incomplete document.
  size_t buffered() const { return buf_.size() - start_; }

 private:
  size_t max_document_bytes_;
  std::string buf_;
  size_t start_ = 0;  // first byte of the current document (or of whitespace before it)
  size_t pos_ = 0;    // next byte to scan
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  bool started_ = false;  // the current document's opening brace has been seen
  absl::Status error_;
};

}  // namespace kfaas::kube
