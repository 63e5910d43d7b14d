// Package simproto is the contract between the scenario runner and the vsim
// program in the scenario image: the runner refuses a prebuilt vsim of
// another version instead of failing half-way through a run.
package simproto

// Version changes whenever the runner starts relying on a vsim tool or flag
// that older builds lack.
const Version = "5"
