package tenantconfig_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerdesk/ledgerdesk/services/tenantconfig"
)

// TestDemoConfiguration: every document of deploy/demo-config parses and validates
// without a problem, its tenant is its file's name, and its webhook is the demo receiver.
func TestDemoConfiguration(t *testing.T) {
	files, err := filepath.Glob("../../deploy/demo-config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("want the 3 demo tenants, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := tenantconfig.Parse(body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			doc.SetDefaults()
			for _, p := range tenantconfig.Problems(doc.Validate()) {
				t.Errorf("problem: %v", p)
			}
			if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); doc.Tenant != want {
				t.Errorf("tenant %q in %s", doc.Tenant, f)
			}
			if len(doc.Webhooks) == 0 {
				t.Fatal("no webhook")
			}
			for _, w := range doc.Webhooks {
				if w.URL != "http://localhost:9099/hooks/"+doc.Tenant || len(w.Secret) != 32 {
					t.Errorf("webhook %s: url %q, secret of %d characters", w.ID, w.URL, len(w.Secret))
				}
			}
		})
	}
}
