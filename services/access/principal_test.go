package access

import (
	"strings"
	"testing"
)

func TestScope(t *testing.T) {
	all := Principal{Role: RoleAdmin, Tenants: []string{AllTenants}}
	acme := Principal{Role: RoleAdmin, Tenants: []string{"acme", "initech"}}
	for _, c := range []struct {
		p       Principal
		tenants []string
		covers  bool
	}{
		{all, []string{AllTenants}, true},
		{all, []string{"globex"}, true},
		{acme, []string{"acme"}, true},
		{acme, []string{"acme", "initech"}, true},
		{acme, []string{"acme", "globex"}, false},
		{acme, []string{AllTenants}, false}, // no escalation to every tenant
		{Principal{}, []string{"acme"}, false},
	} {
		if got := c.p.Covers(c.tenants); got != c.covers {
			t.Errorf("%v covers %v = %v, want %v", c.p.Tenants, c.tenants, got, c.covers)
		}
	}
	if (Principal{}).Allows("") || acme.Allows("") || acme.Allows("globex") || !acme.Allows("initech") || !all.Allows("x") {
		t.Error("Allows: the zero principal sees nothing, a scoped one only its tenants, * every tenant")
	}
	if _, ok := acme.Only(); ok {
		t.Error("two tenants have no default tenant")
	}
	if tenant, ok := (Principal{Tenants: []string{"acme"}}).Only(); !ok || tenant != "acme" {
		t.Error("one tenant is the default")
	}
	if got := (Principal{Role: RoleIntegration, Name: "nagios"}).Actor(); got != "integration:nagios" {
		t.Errorf("actor %q", got)
	}
}

func TestGuardConfigValidate(t *testing.T) {
	err := GuardConfig{Rate: -1, Burst: -1}.Validate()
	for _, want := range []string{"Registry", "Logger", "--rate-limit", "--rate-burst"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}
