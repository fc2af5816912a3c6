// EndpointKey: the form in which two member addresses ("HOST:PORT") are
// compared to tell whether they name one listening socket, so that an address
// in use by a member or once used by a removed member is recognised however
// it is spelt (issue: `members add 23=localhost:27116` was accepted while
// replica 16 was at 127.0.0.1:27116).
//
// Only what can be decided without a name lookup (a lookup could block the
// loop thread on DNS): host names compare case-insensitively and without a
// trailing dot; every IPv4 form inet_aton accepts ("127.1", "127.0.0.01",
// "0x7f.0.0.1") is written as its dotted quad; "localhost" and names under
// ".localhost" (RFC 6761) are the loopback address 127.0.0.1. Two different
// names for one host still differ: the dialer's identity check (the server
// answers as the replica it is) refuses the link then.
#pragma once

#include <string>
#include <string_view>

#include "node/cluster_config.h"

namespace synod::node {

// The comparison key of `endpoint` ("HOST:PORT"; the port as digits). Text
// that is not of that form is returned unchanged (it equals only itself).
// Never throws except std::bad_alloc.
std::string EndpointKey(std::string_view endpoint);

// "" unless two members of `list` name one socket (EndpointKey) in different
// spellings; then the error naming both. For a list typed by a user (serve's
// --members); lists read back from members files and stated by servers are
// not checked, so that an older build's recorded list stays readable.
std::string RepeatedSocket(const ClusterConfig& list);

}  // namespace synod::node
