//go:build !cgo

package native

// Available reports whether the C code is compiled in (cgo is on).
const Available = false
