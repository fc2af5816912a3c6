// ConnectOwned: asio::async_connect over a resolver's endpoints, for a socket
// its owner may close and drop at any moment (a connect deadline, a teardown,
// the owner's own destruction).
//
// Asio's range connect operation refers to the socket it was given and reads
// it once more when it completes, even when it completes because the socket
// was closed. An owner that closed and freed the socket while a connect was
// pending made that read a use after free (found by ASan when a partition made
// a peer's connect hang until its deadline). Here the pending operation
// co-owns the socket, so it is freed only after the operation is over.
//
// Threading: the socket's executor (the network thread). `done(error)` runs
// there once, as for asio::async_connect; the socket is connected iff !error.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <utility>

namespace synod::transport {

template <typename Done>
void ConnectOwned(std::shared_ptr<boost::asio::ip::tcp::socket> socket,
                  const boost::asio::ip::tcp::resolver::results_type& endpoints, Done done) {
  boost::asio::ip::tcp::socket& target = *socket;
  boost::asio::async_connect(target, endpoints,
                             [socket = std::move(socket), done = std::move(done)](
                                 const boost::system::error_code& error,
                                 const boost::asio::ip::tcp::endpoint&) mutable { done(error); });
}

}  // namespace synod::transport
