// Package httpserve is what kisgen's file servers (`kisgen mirror serve`, `kisgen serve
// pxe`) share: an http.Server whose clients cannot hold it, and the access log.
//
// A client that stops reading, never finishes its request headers or keeps a keep-alive
// connection open forever would otherwise hold a goroutine and a file descriptor each for
// as long as it likes: the server caps connections and, when full, closes idle
// keep-alive connections first; headers must arrive within a time; a response write that
// makes no progress for a time ends the connection, however long a large download takes
// as a whole.
package httpserve
