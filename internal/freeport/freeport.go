// Package freeport picks loopback ports for the servers drctl starts
// itself: throwaway Postgres clusters, the embedded Temporal server, and
// the tests' store servers.
//
// Asking the kernel for port 0 and closing the listener gives a port from
// the ephemeral range, which the kernel also hands to every outgoing
// connection: any program's next connection may take it before the server
// binds it, which for a cluster restored from a backup is seconds later.
// A port below that range is never handed out, so only another listener
// can take it.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// floor is the lowest port picked: well above the ports of common
// services.
const floor = 10000

// Loopback returns a TCP port on 127.0.0.1 that is free now, below the
// kernel's ephemeral range where that range leaves room.
func Loopback() (int, error) {
	if low := ephemeralLow(); low-floor >= 1000 {
		for range 50 {
			port := floor + rand.IntN(low-floor)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is where the kernel's ephemeral range begins: Linux's
// setting, or its default, which lies below other systems' (49152).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var high int
		if n, _ := fmt.Sscan(string(b), &low, &high); n != 2 {
			low = 32768
		}
	}
	return low
}
