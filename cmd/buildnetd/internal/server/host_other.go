//go:build !linux

package server

func cpuTimes() (total, idle uint64, ok bool) { return 0, 0, false }

func load1() float64 { return 0 }

func memInfo() (total, available uint64) { return 0, 0 }

func diskSpace(string) (total, free uint64) { return 0, 0 }

func rss() uint64 { return 0 }
