// Package tui is devorch's terminal UI, built with Bubble Tea: the services
// table, interleaved logs, a service's detail, resource sparklines, alerts,
// images, hosts and generated key help, plus keyboard actions on the
// selected service (restart, stop, start, recreate, rebuild, shell, scale).
// It owns everything under tui/ and reads the engine only through its small
// Backend interface (backend.go), one event subscription drained in batches
// (subscribe.go) and actions run as tea.Cmds; all state lives in one Model
// (model.go), each view is a file that renders from that state, keys are
// bubbles/key bindings (keys.go) and every style comes from one Theme made
// from the output's renderer (theme.go). cmd/devorch calls Run.
package tui
