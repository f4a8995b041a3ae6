// Package schedule owns placement: given the hosts (capacity, labels,
// platform, ports in use, what devorch already reserved there) and the
// services of a compose stack (replicas, placement constraints, resource
// reservations, published ports, volumes, follow and colocation affinities),
// it decides which host runs each replica. It is pure — plain data in, plain
// data out, no Docker and no I/O — and works as a pipeline read top to bottom:
// affinity groups are formed first, every host is then passed through small
// filters (filters.go) that can each explain a refusal in one sentence, and
// the hosts left are ranked by a spread or binpack score with ties broken by
// host name. Existing replicas stay where they run unless that host became
// infeasible, the result never over-commits a host's CPU or memory nor books
// a host port twice, and the same request always yields the same placement.
//
// A service that declares no reservation may carry a soft one, its recorded
// use (Service.SoftNanoCPUs, SoftMemory). Soft numbers never refuse a host;
// they count in the score beside declared reservations, as a host's expected
// use, and in the order of placement, largest first. A declared reservation
// always wins over a soft one. Result.Soft says which soft numbers were used.
package schedule
