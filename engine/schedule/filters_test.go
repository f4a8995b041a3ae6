package schedule

import (
	"testing"
)

// judge runs one filter on one host for replica 1 of the first service and
// returns whether it accepts and, if not, its explanation.
func judge(t *testing.T, f filter, h Host, s Service) (bool, string) {
	t.Helper()
	st, err := newState(Request{Hosts: []Host{h}, Services: []Service{s}})
	if err != nil {
		t.Fatalf("newState: %v", err)
	}
	tk := task{svc: st.svcs[0], replica: 1}
	n := st.nodes[0]
	if f.Check(n, &tk, st) {
		return true, ""
	}
	return false, f.Explain(n, &tk, st)
}

type filterCase struct {
	name string
	host Host
	svc  Service
	want string // "" = accepted
}

func runFilterCases(t *testing.T, f filter, cases []filterCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, why := judge(t, f, c.host, c.svc)
			if ok != (c.want == "") || why != c.want {
				t.Errorf("got ok=%v %q, want %q", ok, why, c.want)
			}
		})
	}
}

func TestFilterReachable(t *testing.T) {
	runFilterCases(t, reachable{}, []filterCase{
		{"reachable", host("a"), svc("api"), ""},
		{"with error", host("a", unreachable("dial unix /var/run/docker.sock: connect: connection refused")), svc("api"),
			"unreachable: dial unix /var/run/docker.sock: connect: connection refused"},
		{"without error", host("a", unreachable("")), svc("api"), "unreachable"},
	})
}

func TestFilterConstraints(t *testing.T) {
	eu := host("a", labels("zone", "eu", "ssd", "true"))
	runFilterCases(t, constraints{}, []filterCase{
		{"hostname ok", eu, svc("api", constrained("node.hostname==a")), ""},
		{"hostname refused", eu, svc("api", constrained("node.hostname==b")), "constraint node.hostname==b not met (hostname=a)"},
		{"hostname not equal", eu, svc("api", constrained("node.hostname != a")), "constraint node.hostname!=a not met (hostname=a)"},
		{"label ok", eu, svc("api", constrained("node.labels.zone==eu")), ""},
		{"label refused", eu, svc("api", constrained("node.labels.zone==us")), "constraint node.labels.zone==us not met (zone=eu)"},
		{"label spaces", eu, svc("api", constrained(" node.labels.zone  ==  us ")), "constraint node.labels.zone==us not met (zone=eu)"},
		{"label missing", eu, svc("api", constrained("node.labels.gpu==yes")), "constraint node.labels.gpu==yes not met (no label gpu)"},
		{"missing label satisfies !=", eu, svc("api", constrained("node.labels.gpu!=yes")), ""},
		{"not equal refused", eu, svc("api", constrained("node.labels.zone != eu")), "constraint node.labels.zone!=eu not met (zone=eu)"},
		{"value case-insensitive", eu, svc("api", constrained("node.labels.ssd==TRUE")), ""},
		{"first failing reported", eu, svc("api", constrained("node.labels.ssd==true", "node.labels.zone==us", "node.hostname==b")),
			"constraint node.labels.zone==us not met (zone=eu)"},
		{"os", eu, svc("api", constrained("node.platform.os==windows")), "constraint node.platform.os==windows not met (os=linux)"},
		{"arch alias", eu, svc("api", constrained("node.platform.arch==amd64", "node.platform.arch==x86_64")), ""},
		{"arch refused", eu, svc("api", constrained("node.platform.arch==arm64")), "constraint node.platform.arch==arm64 not met (arch=amd64)"},
		{"os unknown", host("a", func(h *Host) { h.OS = "" }), svc("api", constrained("node.platform.os==linux")),
			"constraint node.platform.os==linux not met (os unknown)"},
	})
}

func TestMalformedConstraint(t *testing.T) {
	for _, c := range []struct{ constraint, want string }{
		{"node.labels.zone=eu", `service "api": malformed placement constraint "node.labels.zone=eu": want KEY==VALUE or KEY!=VALUE`},
		{"==eu", `service "api": malformed placement constraint "==eu": want KEY==VALUE or KEY!=VALUE`},
		{"node.labels.zone==", `service "api": malformed placement constraint "node.labels.zone==": want KEY==VALUE or KEY!=VALUE`},
		{"node.hostname==a==b", `service "api": malformed placement constraint "node.hostname==a==b": want KEY==VALUE or KEY!=VALUE`},
		{"node.hostname!==a", `service "api": malformed placement constraint "node.hostname!==a": want KEY==VALUE or KEY!=VALUE`},
		{"node.role==manager", `service "api": malformed placement constraint "node.role==manager": unsupported key "node.role" (want node.hostname, node.labels.<label>, node.platform.os or node.platform.arch)`},
		{"node.labels.==x", `service "api": malformed placement constraint "node.labels.==x": unsupported key "node.labels." (want node.hostname, node.labels.<label>, node.platform.os or node.platform.arch)`},
	} {
		t.Run(c.constraint, func(t *testing.T) {
			_, err := Place(Request{Hosts: []Host{host("a")}, Services: []Service{svc("api", constrained(c.constraint))}})
			if _, ok := err.(*InvalidRequest); !ok || err.Error() != c.want {
				t.Errorf("got %T %v\nwant %s", err, err, c.want)
			}
		})
	}
}

func TestFilterPlatform(t *testing.T) {
	runFilterCases(t, platform{}, []filterCase{
		{"any", host("a"), svc("api"), ""},
		{"same, docker arch name", host("a"), svc("api", onPlatform("linux/amd64")), ""},
		{"os only", host("a"), svc("api", onPlatform("linux")), ""},
		{"variant ignored", host("a", func(h *Host) { h.Arch = "aarch64" }), svc("api", onPlatform("linux/arm64/v8")), ""},
		{"other arch", host("a"), svc("api", onPlatform("linux/arm64")), "platform linux/arm64 needed, host is linux/amd64"},
		{"other os", host("a"), svc("api", onPlatform("windows/amd64")), "platform windows/amd64 needed, host is linux/amd64"},
		{"host unknown", host("a", func(h *Host) { h.OS, h.Arch = "", "" }), svc("api", onPlatform("linux/arm64")), ""},
	})
	_, err := Place(Request{Hosts: []Host{host("a")}, Services: []Service{svc("api", onPlatform("linux//"))}})
	if want := `service "api": malformed platform "linux//" (want os[/arch[/variant]])`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestFilterResources(t *testing.T) {
	runFilterCases(t, resources{}, []filterCase{
		{"fits", host("a"), svc("api", needs(2*cpu, gib)), ""},
		{"exact fit", host("a", reservedOn(2*cpu, 4*gib)), svc("api", needs(2*cpu, 4*gib)), ""},
		{"cpu", host("a", reservedOn(3*cpu+cpu/2, 0)), svc("api", needs(2*cpu, 0)), "needs 2 CPUs, 0.5 free"},
		{"one cpu", host("a", reservedOn(4*cpu, 0)), svc("api", needs(cpu, 0)), "needs 1 CPU, 0 free"},
		{"fractions", host("a", reservedOn(3*cpu+cpu*3/4, 0)), svc("api", needs(cpu/2, 0)), "needs 0.5 CPUs, 0.25 free"},
		{"memory", host("a", func(h *Host) { h.MemoryBytes, h.ReservedMemory = 2*gib, 3*gib/2 }), svc("api", needs(0, gib)),
			"needs 1GiB memory, 512MiB free"},
		{"memory fraction", host("a", reservedOn(0, 6*gib)), svc("api", needs(0, 3*gib/2+gib)), "needs 2.5GiB memory, 2GiB free"},
		{"both", host("a", reservedOn(4*cpu, 8*gib)), svc("api", needs(cpu/2, 512*mib)),
			"needs 0.5 CPUs, 0 free; needs 512MiB memory, 0B free"},
		{"over-committed by others", host("a", reservedOn(5*cpu, 0)), svc("api", needs(cpu, 0)), "needs 1 CPU, 0 free"},
		{"no reservation fits anywhere", host("a", reservedOn(5*cpu, 9*gib)), svc("api"), ""},
		{"unknown capacity", host("a", func(h *Host) { h.NanoCPUs, h.MemoryBytes = 0, 0 }), svc("api", needs(64*cpu, 1024*gib)), ""},
	})
}

func TestFilterPorts(t *testing.T) {
	web1 := used(tcp(8080), "container web-1")
	runFilterCases(t, ports{}, []filterCase{
		{"free", host("a", web1), svc("api", publishes(tcp(9090))), ""},
		{"held", host("a", web1), svc("api", publishes(tcp(9090), tcp(8080))), "port 8080/tcp held by container web-1"},
		{"empty protocol is tcp", host("a", web1), svc("api", publishes(PortKey{Port: 8080})), "port 8080/tcp held by container web-1"},
		{"other protocol", host("a", web1), svc("api", publishes(PortKey{Port: 8080, Protocol: "udp"})), ""},
		{"0.0.0.0 is all interfaces", host("a", used(tcpOn("0.0.0.0", 8080), "process")), svc("api", publishes(tcp(8080))),
			"port 8080/tcp held by process"},
		{"all vs specific", host("a", used(tcpOn("127.0.0.1", 8080), "process")), svc("api", publishes(tcp(8080))),
			"port 8080/tcp clashes with 127.0.0.1:8080/tcp held by process"},
		{"specific vs all", host("a", web1), svc("api", publishes(tcpOn("127.0.0.1", 8080))),
			"port 127.0.0.1:8080/tcp clashes with 8080/tcp held by container web-1"},
		{"same specific", host("a", used(tcpOn("10.0.0.1", 53), "dnsmasq")), svc("api", publishes(tcpOn("10.0.0.1", 53))),
			"port 10.0.0.1:53/tcp held by dnsmasq"},
		{"different specific", host("a", used(tcpOn("10.0.0.1", 8080), "process")), svc("api", publishes(tcpOn("127.0.0.1", 8080))), ""},
		{"ipv6", host("a", used(tcpOn("::1", 8080), "")), svc("api", publishes(tcpOn("::1", 8080))),
			"port [::1]:8080/tcp held by something"},
		{"ephemeral host port", host("a", web1), svc("api", publishes(PortKey{Port: 0})), ""},
	})
}

// A fixed host port keeps two replicas of one service off the same host.
func TestFilterPortsPlacedHere(t *testing.T) {
	u := mustFail(t, Request{Hosts: []Host{host("a")}, Services: []Service{svc("api", replicas(2), publishes(tcp(8080)))}})
	want := "cannot place service \"api\" (replica 2):\n  a: port 8080/tcp held by api replica 1 (placed here)"
	if u.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", u.Error(), want)
	}
}

func TestFilterAffinity(t *testing.T) {
	// Pins come from groups; the filter itself only compares hosts.
	st, err := newState(Request{Hosts: []Host{host("a"), host("b")}, Services: []Service{svc("api")}})
	if err != nil {
		t.Fatal(err)
	}
	tk := task{svc: st.svcs[0], replica: 1, pins: []pin{{host: 1, refusal: "volume data is on b"}}}
	if !(affinity{}).Check(st.nodes[1], &tk, st) {
		t.Error("b refused")
	}
	if (affinity{}).Check(st.nodes[0], &tk, st) {
		t.Error("a accepted")
	}
	if got := (affinity{}).Explain(st.nodes[0], &tk, st); got != "volume data is on b" {
		t.Errorf("got %q", got)
	}
}

func TestUnits(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{cpus(2 * cpu), "2"}, {cpus(cpu / 2), "0.5"}, {cpus(1250e6), "1.25"}, {cpus(333333333), "0.333"},
		{cpus(100), "0.0000001"}, {cpus(-5), "0"},
		{bytesIEC(0), "0B"}, {bytesIEC(1000), "1000B"}, {bytesIEC(1536), "1.5KiB"}, {bytesIEC(512 * mib), "512MiB"},
		{bytesIEC(3 * gib / 2), "1.5GiB"}, {bytesIEC(1024 * gib), "1TiB"}, {bytesIEC(-1), "0B"},
		{tcpOn("0.0.0.0", 80).String(), "80/tcp"}, {PortKey{HostIP: "[::]", Port: 53, Protocol: "UDP"}.String(), "53/udp"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
