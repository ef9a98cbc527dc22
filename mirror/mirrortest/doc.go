// Package mirrortest fills a mirror build cache with small stand-ins, so tests of
// `kisgen mirror build` with Calico compile nothing and run no mmdebstrap.
package mirrortest
