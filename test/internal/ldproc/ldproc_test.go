package ldproc

import (
	"strings"
	"testing"
)

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tledgerdesk\nVmPeak:\t 2000000 kB\nVmHWM:\t   204800 kB\nVmRSS:\t  100000 kB\n"
	got, err := parseVmHWM(strings.NewReader(status))
	if err != nil || got != 200 {
		t.Fatalf("parseVmHWM = %v, %v; want 200 MiB", got, err)
	}
	if _, err := parseVmHWM(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("parseVmHWM without VmHWM: want an error")
	}
}
