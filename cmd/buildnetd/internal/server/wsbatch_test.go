package server

import (
	"net"
	"testing"
	"time"
)

func TestBatchConnSendsWhatItHeldInOneWrite(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	bc := &batchConn{Conn: a}
	if err := bc.release(time.Second); err != nil {
		t.Fatalf("release with nothing held: %v", err)
	}

	bc.hold()
	for _, s := range []string{"one,", "two,", "three"} {
		if n, err := bc.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("held Write(%q) = %d, %v", s, n, err)
		}
	}
	got := make(chan string, 2)
	go func() {
		buf := make([]byte, 64)
		for range 2 {
			n, err := b.Read(buf) // a pipe's Read returns at most one Write
			if err != nil {
				t.Error(err)
				return
			}
			got <- string(buf[:n])
		}
	}()
	if err := bc.release(time.Second); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "one,two,three" {
		t.Errorf("first write = %q, want everything held, in order", s)
	}
	// Not held: straight through.
	if _, err := bc.Write([]byte("four")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "four" {
		t.Errorf("second write = %q, want %q", s, "four")
	}
}

func TestBatchConnReleaseGivesUpOnAStuckPeer(t *testing.T) {
	a, b := net.Pipe() // nobody reads b
	defer a.Close()
	defer b.Close()
	bc := &batchConn{Conn: a}
	bc.hold()
	bc.Write([]byte("x"))
	if err := bc.release(10 * time.Millisecond); err == nil {
		t.Fatal("release to a peer that reads nothing succeeded")
	}
}
