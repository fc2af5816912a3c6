#include "node/endpoint_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace synod::node {

namespace {

// The host part's key: lower case, no trailing dot, IPv4 forms as the
// dotted quad, localhost names as 127.0.0.1.
std::string HostKey(std::string_view host) {
  std::string key(host);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (key.size() > 1 && key.back() == '.') key.pop_back();
  constexpr std::string_view kLocalhostSuffix = ".localhost";
  if (key == "localhost" ||
      (key.size() > kLocalhostSuffix.size() && key.ends_with(kLocalhostSuffix))) {
    return "127.0.0.1";
  }
  in_addr address{};
  if (inet_aton(key.c_str(), &address) != 0) {
    char text[INET_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET, &address, text, sizeof text) != nullptr) return text;
  }
  return key;
}

// The port part's key: the number without leading zeros.
std::string PortKey(std::string_view port) {
  size_t first = port.find_first_not_of('0');
  if (first == std::string_view::npos) return port.empty() ? std::string() : "0";
  return std::string(port.substr(first));
}

}  // namespace

std::string EndpointKey(std::string_view endpoint) {
  size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == endpoint.size()) {
    return std::string(endpoint);
  }
  std::string_view port = endpoint.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::string(endpoint);
  }
  return HostKey(endpoint.substr(0, colon)) + ":" + PortKey(port);
}

std::string RepeatedSocket(const ClusterConfig& list) {
  for (size_t i = 0; i < list.members.size(); ++i) {
    for (size_t j = i + 1; j < list.members.size(); ++j) {
      const std::string first = list.members[i].Endpoint();
      const std::string second = list.members[j].Endpoint();
      if (EndpointKey(first) == EndpointKey(second)) {
        return "members " + std::to_string(list.members[i].id) + "=" + first + " and " +
               std::to_string(list.members[j].id) + "=" + second + " name one address";
      }
    }
  }
  return "";
}

}  // namespace synod::node
