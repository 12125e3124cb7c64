package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	k8sjsonlib "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// k8sDir holds the Kubernetes manifests, relative to the repository root; natsValues is the
// NATS Helm chart's values file in it, the one file there that is no manifest.
const (
	k8sDir     = "deploy/k8s"
	natsValues = "nats-values.yaml"
)

// checkKubernetes decodes every manifest under deploy/k8s strictly into its k8s.io/api type
// (apimachinery's strict decoder: an unknown or duplicate field fails, as does a kind it
// does not know) and the Helm values strictly against the keys the chart has, then checks
// what the objects say against the binary and each other.
func checkKubernetes(t *testing.T, d *deployment) {
	nodes := checkHelmValues(t, d)
	m := decodeManifests(t, d)
	for _, dep := range m.deployments {
		where := m.where[dep]
		c := m.checkPod(t, d, where, &dep.Spec.Template, nodes)
		service := c.args[1]
		if want := []string{"serve", service}; !slices.Equal(c.args[:2], want) || servedServices[service] == 0 {
			t.Errorf("%s: runs ledgerdesk %s, want serve <service>", where, strings.Join(c.args, " "))
			continue
		}
		m.served[service] = append(m.served[service], dep.Name)
		if sel, err := metav1Selector(dep); err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not select its pods %v (%v)", where, dep.Spec.Selector, dep.Spec.Template.Labels, err)
		}
		m.checkServe(t, dep, c)
	}
	for service := range servedServices {
		if len(m.served[service]) != 1 {
			t.Errorf("%s: Deployments of %s: %v, want one", k8sDir, service, m.served[service])
		}
	}
	var provisions int
	for _, job := range m.jobs {
		c := m.checkPod(t, d, m.where[job], &job.Spec.Template, nodes)
		if slices.Equal(c.args[:2], []string{"nats", "provision"}) {
			provisions++
		}
	}
	if provisions != 1 {
		t.Errorf("%s: %d Jobs run nats provision, want one", k8sDir, provisions)
	}
	for _, svc := range m.services {
		m.checkService(t, svc)
	}
}

// manifests are the objects of deploy/k8s, each with the file it came from.
type manifests struct {
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pvcs        map[string]*corev1.PersistentVolumeClaim
	where       map[runtime.Object]string // each object's file, kind and name, for messages
	served      map[string][]string       // service → the Deployments running it
}

// decodeManifests decodes every YAML document of every .yaml file under deploy/k8s but the
// Helm values.
func decodeManifests(t *testing.T, d *deployment) *manifests {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, batchv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme, scheme, k8sjson.SerializerOptions{Yaml: true, Strict: true})
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		where: map[runtime.Object]string{}, served: map[string][]string{}}
	files, err := filepath.Glob(filepath.Join(d.root, k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob(filepath.Join(d.root, k8sDir, "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append(files, more...) {
		rel, _ := filepath.Rel(d.root, file)
		if filepath.Base(file) == natsValues {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := docs.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil { // a strict decoding error comes with the object: fail on it too
				t.Errorf("%s, document %d: %v", rel, i+1, err)
				continue
			}
			kind := obj.GetObjectKind().GroupVersionKind().Kind
			if meta, ok := obj.(interface{ GetName() string }); ok {
				m.where[obj] = rel + ": " + kind + " " + meta.GetName()
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *batchv1.Job:
				m.jobs = append(m.jobs, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.PersistentVolumeClaim:
				m.pvcs[o.Name] = o
			default:
				t.Errorf("%s, document %d: a %T, which this test does not check", rel, i+1, obj)
			}
		}
	}
	return m
}

// checkPod checks what every ledgerdesk pod needs: one container, its command line as the
// binary takes it, its role's creds from a Secret, every node's URL, its own pod's
// environment (no service links: they would add <SERVICE>_* variables beside the
// LEDGERDESK_* flags), a non-root user, and requests and limits. It returns the command.
func (m *manifests) checkPod(t *testing.T, d *deployment, where string, pod *corev1.PodTemplateSpec, nodes []string) command {
	t.Helper()
	spec := pod.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want one", where, len(spec.Containers))
	}
	ctr := spec.Containers[0]
	c := command{where: where, args: ctr.Args, env: map[string]string{}}
	if len(ctr.Command) > 0 || len(c.args) < 2 {
		t.Fatalf("%s: command %q args %q: want the image's entrypoint, ledgerdesk, with args", where, ctr.Command, ctr.Args)
	}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil || m.configMaps[from.ConfigMapRef.Name] == nil {
			t.Errorf("%s: envFrom %+v is no ConfigMap of %s", where, from, k8sDir)
			continue
		}
		for k, v := range m.configMaps[from.ConfigMapRef.Name].Data {
			c.env[k] = v
		}
	}
	for _, e := range ctr.Env {
		c.env[e.Name] = e.Value
		if e.ValueFrom != nil {
			c.env[e.Name] = "from-" + e.ValueFrom.String()
		}
	}
	role := "admin"
	if c.args[0] == "serve" {
		role = c.args[1]
	}
	creds, _ := c.flag("creds")
	if !podMountsSecretFile(spec, ctr, creds, role+".creds") {
		t.Errorf("%s: --creds %s is not the key %s.creds of a Secret mounted there", where, creds, role)
	}
	natsURLs(t, c, nodes)
	c.check(t, d)

	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks is not false", where)
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: does not run as non-root", where)
	}
	r := ctr.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if r.Requests.Name(name, resource.DecimalSI).IsZero() || r.Limits.Name(name, resource.DecimalSI).IsZero() {
			t.Errorf("%s: no %s request and limit", where, name)
		}
	}
	if !r.Requests.Memory().Equal(*r.Limits.Memory()) {
		t.Errorf("%s: memory request %s, limit %s: want them equal (no eviction for using what was asked)", where, r.Requests.Memory(), r.Limits.Memory())
	}
	return c
}

// podMountsSecretFile reports whether file (a path in the container) is the key key of a
// Secret volume mounted there.
func podMountsSecretFile(spec corev1.PodSpec, ctr corev1.Container, file, key string) bool {
	for _, mnt := range ctr.VolumeMounts {
		if mnt.MountPath != path.Dir(file) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == mnt.Name && v.Secret != nil && slices.Contains(v.Secret.Items, corev1.KeyToPath{Key: key, Path: path.Base(file)}) {
				return key == path.Base(file)
			}
		}
	}
	return false
}

// checkServe checks a service's Deployment against its command line: the probes and the
// metrics annotations on its --metrics-listen, its API port on --http, and reporting's
// volume.
func (m *manifests) checkServe(t *testing.T, dep *appsv1.Deployment, c command) {
	t.Helper()
	where := m.where[dep]
	ctr := dep.Spec.Template.Spec.Containers[0]
	metrics := listenPort(t, c, "metrics-listen")
	probes := map[string]*corev1.Probe{"/livez": ctr.LivenessProbe, "/readyz": ctr.ReadinessProbe}
	if ctr.StartupProbe != nil {
		probes["/livez (startup)"] = ctr.StartupProbe
	}
	for want, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != strings.Fields(want)[0] || containerPort(ctr, p.HTTPGet.Port) != metrics {
			t.Errorf("%s: probe for %s is %v, want GET %s on --metrics-listen's port %s", where, want, p, strings.Fields(want)[0], metrics)
		}
	}
	want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": metrics, "prometheus.io/path": "/metrics"}
	for k, v := range want {
		if got := dep.Spec.Template.Annotations[k]; got != v {
			t.Errorf("%s: pod annotation %s: %q, want %q", where, k, got, v)
		}
	}
	service := c.args[1]
	if service == "intake" || service == "reporting" {
		if http := listenPort(t, c, "http"); containerPort(ctr, intstr.FromString("http")) != http {
			t.Errorf("%s: no container port named http on --http's port %s", where, http)
		}
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc := m.pvcs[v.PersistentVolumeClaim.ClaimName]
		if pvc == nil {
			t.Errorf("%s: volume %s claims %s, which %s does not define", where, v.Name, v.PersistentVolumeClaim.ClaimName, k8sDir)
			continue
		}
		// One pod at a time on a ReadWriteOnce volume (Pebble locks its directory too):
		// a rolling update would start the new pod beside the old.
		if slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) &&
			(dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType) {
			t.Errorf("%s: a ReadWriteOnce volume wants one replica replaced with Recreate", where)
		}
	}
}

// checkService checks that a Service selects the pods of one Deployment and sends to
// ports they have.
func (m *manifests) checkService(t *testing.T, svc *corev1.Service) {
	t.Helper()
	where := m.where[svc]
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var matched []*appsv1.Deployment
	for _, dep := range m.deployments {
		if len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
			matched = append(matched, dep)
		}
	}
	if len(matched) != 1 {
		t.Errorf("%s: selects the pods of %d Deployments, want one", where, len(matched))
		return
	}
	for _, p := range svc.Spec.Ports {
		if containerPort(matched[0].Spec.Template.Spec.Containers[0], p.TargetPort) == "" {
			t.Errorf("%s: port %s targets %s, which %s's container does not have", where, p.Name, p.TargetPort.String(), matched[0].Name)
		}
	}
}

// containerPort is the number of the container's port p names (by name or number), "" for
// none.
func containerPort(ctr corev1.Container, p intstr.IntOrString) string {
	for _, cp := range ctr.Ports {
		if cp.Name == p.String() || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return strconv.Itoa(int(cp.ContainerPort))
		}
	}
	return ""
}

func metav1Selector(dep *appsv1.Deployment) (labels.Selector, error) {
	if dep.Spec.Selector == nil || len(dep.Spec.Selector.MatchExpressions) > 0 {
		return nil, fmt.Errorf("want matchLabels only")
	}
	return labels.SelectorFromSet(dep.Spec.Selector.MatchLabels), nil
}

// helmValues are the keys of the NATS chart's values.yaml (nats-io/k8s, helm/charts/nats:
// the same in 1.x and 2.x) that nats-values.yaml sets; decoding it strictly into them
// fails on any other key, so a misspelt one cannot be silently ignored by helm.
type helmValues struct {
	FullnameOverride string `json:"fullnameOverride"`
	Config           struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		JetStream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool   `json:"enabled"`
				Dir     string `json:"dir"`
				PVC     struct {
					Enabled          bool               `json:"enabled"`
					Size             *resource.Quantity `json:"size"`
					StorageClassName *string            `json:"storageClassName"`
				} `json:"pvc"`
			} `json:"fileStore"`
			// Merge is merged into the server's jetstream block.
			Merge struct {
				SyncInterval string `json:"sync_interval"`
			} `json:"merge"`
		} `json:"jetstream"`
		// Merge is merged into the server config: include directives only.
		Merge map[string]string `json:"merge"`
	} `json:"config"`
	Container struct {
		Image struct {
			Tag string `json:"tag"`
		} `json:"image"`
		Env   map[string]string `json:"env"`
		Merge struct {
			Resources corev1.ResourceRequirements `json:"resources"`
		} `json:"merge"`
		Patch []jsonPatch `json:"patch"` // on the nats container
	} `json:"container"`
	PodTemplate struct {
		TopologySpreadConstraints map[string]struct {
			MaxSkew           int                                  `json:"maxSkew"`
			WhenUnsatisfiable corev1.UnsatisfiableConstraintAction `json:"whenUnsatisfiable"`
		} `json:"topologySpreadConstraints"`
		Patch []jsonPatch `json:"patch"` // on the pod template
	} `json:"podTemplate"`
	NatsBox struct {
		Enabled bool `json:"enabled"`
	} `json:"natsBox"`
}

// jsonPatch is one operation of a chart's `patch` list (RFC 6902).
type jsonPatch struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// added decodes, strictly, the values patch adds at path into v; false when none does.
func added[T any](t *testing.T, patch []jsonPatch, path string) (v T, ok bool) {
	t.Helper()
	for _, p := range patch {
		if p.Op == "add" && p.Path == path {
			if err := decodeStrict(p.Value, &v); err != nil {
				t.Errorf("%s: patch %s: %v", natsValues, path, err)
			}
			return v, true
		}
	}
	return v, false
}

// decodeStrict decodes JSON into v as Kubernetes and helm read it: field names are
// case-sensitive (encoding/json would take mountpath for mountPath, which they ignore),
// and an unknown or duplicate field is an error.
func decodeStrict(data []byte, v any) error {
	strict, err := k8sjsonlib.UnmarshalStrict(data, v, k8sjsonlib.DisallowDuplicateFields, k8sjsonlib.DisallowUnknownFields)
	return errors.Join(append(strict, err)...)
}

// chartConfigDir is where the chart mounts its nats.conf; includes are relative to it.
const chartConfigDir = "/etc/nats-config"

// checkHelmValues checks the NATS chart's values: a cluster of three or more with
// JetStream on file storage synced on every write, the nats-server release the services
// embed, and the auth.conf of nats init included from the Secret it mounts. It returns the
// nodes' client addresses: the chart's pods behind its headless service.
func checkHelmValues(t *testing.T, d *deployment) (nodes []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.root, k8sDir, natsValues))
	if err != nil {
		t.Fatal(err)
	}
	var v helmValues
	j, err := yaml.YAMLToJSONStrict(b) // a duplicate key is an error
	if err == nil {
		err = decodeStrict(j, &v)
	}
	if err != nil {
		t.Fatalf("%s: %v", natsValues, err)
	}
	cfg := v.Config
	if !cfg.Cluster.Enabled || cfg.Cluster.Replicas < 3 {
		t.Errorf("%s: cluster enabled %v with %d replicas, want three or more (the streams are R3)", natsValues, cfg.Cluster.Enabled, cfg.Cluster.Replicas)
	}
	if js := cfg.JetStream; !js.Enabled || !js.FileStore.Enabled || !js.FileStore.PVC.Enabled || js.Merge.SyncInterval != "always" {
		t.Errorf("%s: jetstream %v, file store %v on a volume %v, sync_interval %q: want file storage on a volume, synced always",
			natsValues, js.Enabled, js.FileStore.Enabled, js.FileStore.PVC.Enabled, js.Merge.SyncInterval)
	}
	if want := d.natsVersion + "-alpine"; v.Container.Image.Tag != want {
		t.Errorf("%s: image tag %s, want %s (the nats-server the services embed)", natsValues, v.Container.Image.Tag, want)
	}
	mount, okMount := added[corev1.VolumeMount](t, v.Container.Patch, "/volumeMounts/-")
	vol, okVol := added[corev1.Volume](t, v.PodTemplate.Patch, "/spec/volumes/-")
	var includes int
	for key, inc := range cfg.Merge {
		if !strings.HasSuffix(key, "$include") {
			t.Errorf("%s: config.merge.%s: want include directives only", natsValues, key)
			continue
		}
		includes++
		file := path.Join(chartConfigDir, inc)
		ok := okMount && okVol && vol.Name == mount.Name && vol.Secret != nil && path.Dir(file) == mount.MountPath &&
			slices.Contains(vol.Secret.Items, corev1.KeyToPath{Key: "auth.conf", Path: path.Base(file)})
		if !ok {
			t.Errorf("%s: includes %s, which is not auth.conf of the Secret volume it mounts (volume %q: %v; mount %q at %q)",
				natsValues, file, vol.Name, vol.Secret, mount.Name, mount.MountPath)
		}
	}
	if includes != 1 {
		t.Errorf("%s: %d includes, want auth.conf's", natsValues, includes)
	}
	d.initFile(t, natsValues, "auth.conf")
	if v.FullnameOverride == "" {
		t.Fatalf("%s: no fullnameOverride: the pods' names would follow the release's", natsValues)
	}
	for i := range cfg.Cluster.Replicas {
		// The chart's headless service is <fullname>-headless; its client port 4222.
		nodes = append(nodes, fmt.Sprintf("nats://%s-%d.%s-headless:4222", v.FullnameOverride, i, v.FullnameOverride))
	}
	return nodes
}
