// Package simkit is what keyrouter's exchange simulators (binancesim,
// okxsim) share: the fault injection a reliability test configures
// (Faults, drawn by an Injector from one seeded generator, so a run of
// sequential requests is reproducible), the server half of a simulator
// (Host: HTTP listeners, background goroutines and their shutdown), the
// description of a tradable symbol (SymbolConfig) and strict YAML loading.
//
// Injector and Host are safe for concurrent use. A Host serves nothing
// until Serve and stops everything it started on Close.
package simkit
