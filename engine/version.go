package engine

// Version is devorch's version, set at build time with -ldflags.
var Version = "0.1.0-dev"
