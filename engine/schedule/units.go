package schedule

import (
	"math"
	"strconv"
	"strings"
)

// cpus renders nano-CPUs as a decimal count: "2", "0.5", "1.25".
func cpus(nano int64) string {
	if nano < 0 {
		nano = 0
	}
	v := float64(nano) / 1e9
	r := math.Round(v*1000) / 1000
	if r == 0 && v > 0 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// cpuWord is "CPU" for exactly one CPU and "CPUs" otherwise.
func cpuWord(nano int64) string {
	if nano == 1e9 {
		return "CPU"
	}
	return "CPUs"
}

// bytesIEC renders a byte count with binary units: "512MiB", "1.5GiB".
func bytesIEC(n int64) string {
	if n < 0 {
		n = 0
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	units := [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + units[u]
}

// normArch maps the names Docker and uname use to Go's: x86_64 → amd64.
func normArch(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	switch a {
	case "x86_64", "x86-64", "x64":
		return "amd64"
	case "aarch64", "arm64v8":
		return "arm64"
	case "armhf", "armel", "armv7l", "armv6l", "armv7", "armv6":
		return "arm"
	case "i386", "i686", "x86":
		return "386"
	}
	return a
}

func normOS(o string) string { return strings.ToLower(strings.TrimSpace(o)) }

// parsePlatform splits "os[/arch[/variant]]"; the variant is ignored.
func parsePlatform(p string) (os, arch string, ok bool) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", "", true
	}
	parts := strings.Split(p, "/")
	if len(parts) > 3 {
		return "", "", false
	}
	for _, x := range parts {
		if strings.TrimSpace(x) == "" {
			return "", "", false
		}
	}
	os = normOS(parts[0])
	if len(parts) > 1 {
		arch = normArch(parts[1])
	}
	return os, arch, true
}

func platformString(os, arch string) string {
	switch {
	case os == "" && arch == "":
		return "unknown"
	case os == "":
		return "?/" + arch
	case arch == "":
		return os
	}
	return os + "/" + arch
}
