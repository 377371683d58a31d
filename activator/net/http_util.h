// HTTP helpers for the proxy: hop-by-hop header removal, forwarding headers, JSON error
// responses.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>

namespace kfaas::activator::net {

namespace http = boost::beast::http;

// Removes the hop-by-hop headers (RFC 9110 7.6.1): Connection and the fields it names,
// Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Upgrade.
// Transfer-Encoding is kept: it drives the serializer's framing and is re-applied per hop.
template <bool isRequest, typename Fields>
void StripHopByHop(http::header<isRequest, Fields>& h) {
  auto conn = h.find(http::field::connection);
  if (conn != h.end()) {
    std::string tokens(conn->value());
    size_t pos = 0;
    while (pos < tokens.size()) {
      size_t comma = tokens.find(',', pos);
      if (comma == std::string::npos) comma = tokens.size();
      std::string_view tok(tokens.data() + pos, comma - pos);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      // Never let the client strip framing or routing headers through Connection.
      if (!tok.empty() && !boost::beast::iequals(tok, "transfer-encoding") &&
          !boost::beast::iequals(tok, "content-length") && !boost::beast::iequals(tok, "host")) {
        h.erase(tok);
      }
      pos = comma + 1;
    }
    h.erase(http::field::connection);
  }
  h.erase(http::field::keep_alive);
  h.erase("Proxy-Connection");
  h.erase(http::field::proxy_authenticate);
  h.erase(http::field::proxy_authorization);
  h.erase(http::field::te);
  h.erase(http::field::trailer);
  h.erase(http::field::upgrade);
}

// A JSON error body: {"error": message, "code": status, "function": "ns/name"?, ...extra}.
std::string ErrorJson(int status, std::string_view message, std::string_view function = {},
                      std::string_view reason = {});

// Escapes a string for a JSON string literal (without the quotes).
std::string JsonEscape(std::string_view s);

}  // namespace kfaas::activator::net
