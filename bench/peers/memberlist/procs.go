package main

import "runtime"

func setProcs(n int) { runtime.GOMAXPROCS(n) }

func maxProcs() int { return runtime.GOMAXPROCS(0) }
