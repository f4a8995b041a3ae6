package volumes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/devorch/devorch/internal/labels"
)

// fakeHost is one Docker host's volumes. down, when set, is what every
// call fails with: a host that stopped answering.
type fakeHost struct {
	mu      sync.Mutex
	vols    map[string]volume.Volume
	down    error
	created []volume.CreateOptions
	removed []string
}

func newFakeHost(vs ...volume.Volume) *fakeHost {
	h := &fakeHost{vols: map[string]volume.Volume{}}
	for _, v := range vs {
		h.vols[v.Name] = v
	}
	return h
}

func (h *fakeHost) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return volume.Volume{}, h.down
	}
	v, ok := h.vols[name]
	if !ok {
		return volume.Volume{}, errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
	}
	return v, nil
}

func (h *fakeHost) VolumeCreate(ctx context.Context, o volume.CreateOptions) (volume.Volume, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return volume.Volume{}, h.down
	}
	h.created = append(h.created, o)
	v := volume.Volume{Name: o.Name, Driver: o.Driver, Options: o.DriverOpts, Labels: o.Labels}
	h.vols[o.Name] = v
	return v, nil
}

// VolumeList honours the one filter volumes uses: a label=value. It
// answers in reverse name order, so that a caller that forgets to sort is
// seen every time.
func (h *fakeHost) VolumeList(ctx context.Context, o volume.ListOptions) (volume.ListResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return volume.ListResponse{}, h.down
	}
	var resp volume.ListResponse
	names := slices.Sorted(maps.Keys(h.vols))
	slices.Reverse(names)
	for _, name := range names {
		v := h.vols[name]
		ok := true
		for _, f := range o.Filters.Get("label") {
			k, val, _ := strings.Cut(f, "=")
			if v.Labels[k] != val {
				ok = false
			}
		}
		if ok {
			resp.Volumes = append(resp.Volumes, &v)
		}
	}
	return resp, nil
}

func (h *fakeHost) VolumeRemove(ctx context.Context, name string, force bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return h.down
	}
	if _, ok := h.vols[name]; !ok {
		return errdefs.NotFound(fmt.Errorf("get %s: no such volume", name))
	}
	delete(h.vols, name)
	h.removed = append(h.removed, name)
	return nil
}

var errGone = errors.New("error during connect: dial unix /var/run/docker.sock: connect: connection refused")

func ours(project, key, host string) map[string]string {
	return map[string]string{labels.Project: project, labels.Volume: key, labels.Host: host}
}

func TestEnsureCreatesWithLabelsOnceThenReuses(t *testing.T) {
	h := newFakeHost()
	r := Request{Project: "shop", Key: "data", Host: "b", Config: types.VolumeConfig{Driver: "local", Labels: types.Labels{"team": "x"}}}
	res, err := Ensure(context.Background(), h, r)
	if err != nil || res != (Result{Name: "shop_data", Created: true}) {
		t.Fatalf("first ensure: %+v %v", res, err)
	}
	want := map[string]string{"team": "x", labels.Project: "shop", labels.Volume: "data", labels.Host: "b"}
	if len(h.created) != 1 || h.created[0].Name != "shop_data" || h.created[0].Driver != "local" || !reflect.DeepEqual(h.created[0].Labels, want) {
		t.Fatalf("created %+v, want shop_data with labels %v", h.created, want)
	}
	res, err = Ensure(context.Background(), h, r)
	if err != nil || res != (Result{Name: "shop_data"}) || len(h.created) != 1 {
		t.Fatalf("second ensure: %+v %v after %d creates, want the volume reused", res, err, len(h.created))
	}
}

func TestEnsureNameClashes(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		wantErr string
		warning string
	}{
		{name: "another project's", labels: ours("blog", "data", "a"), wantErr: `volume "shop_data" on host "a" belongs to devorch project "blog", not "shop"`},
		{name: "not devorch's", labels: map[string]string{"owner": "me"}, warning: `volume "shop_data" exists on host "a" but was not created by devorch; it is used as is`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(volume.Volume{Name: "shop_data", Labels: tc.labels})
			res, err := Ensure(context.Background(), h, Request{Project: "shop", Key: "data", Host: "a"})
			if len(h.created) != 0 {
				t.Errorf("created %+v over an existing volume", h.created)
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("got %+v, %v; want error %q", res, err, tc.wantErr)
				}
				return
			}
			if err != nil || res.Name != "shop_data" || res.Created || !strings.HasPrefix(res.Warning, tc.warning) {
				t.Errorf("got %+v, %v; want it used with warning %q", res, err, tc.warning)
			}
		})
	}
}

func TestEnsureExternal(t *testing.T) {
	ext := types.VolumeConfig{Name: "backups", External: true}
	h := newFakeHost()
	_, err := Ensure(context.Background(), h, Request{Project: "shop", Key: "bk", Host: "a", Config: ext})
	if err == nil || !strings.Contains(err.Error(), "could not be found on host \"a\"; create it with `docker volume create backups`") || len(h.created) != 0 {
		t.Errorf("missing external volume: %v, created %v; want an error saying how to create it, and nothing created", err, h.created)
	}
	// Found, it is used whoever made it.
	h = newFakeHost(volume.Volume{Name: "backups", Labels: ours("blog", "bk", "a")})
	res, err := Ensure(context.Background(), h, Request{Project: "shop", Key: "bk", Host: "a", Config: ext})
	if err != nil || res != (Result{Name: "backups"}) {
		t.Errorf("existing external volume: %+v %v", res, err)
	}
}

func TestEnsureHostGone(t *testing.T) {
	h := newFakeHost()
	h.down = errGone
	_, err := Ensure(context.Background(), h, Request{Project: "shop", Key: "data", Host: "b"})
	if !errors.Is(err, errGone) || !strings.Contains(err.Error(), `look up volume "shop_data" on host "b"`) {
		t.Errorf("got %v, want the lookup error naming volume and host", err)
	}
	// External or not, a failed lookup is not "not found".
	_, err = Ensure(context.Background(), h, Request{Project: "shop", Key: "bk", Host: "b", Config: types.VolumeConfig{External: true}})
	if !errors.Is(err, errGone) {
		t.Errorf("external on a host gone: %v, want the host's error", err)
	}
}

func TestRemove(t *testing.T) {
	h := newFakeHost(volume.Volume{Name: "shop_data"})
	if err := Remove(context.Background(), h, "shop_data"); err != nil || len(h.vols) != 0 {
		t.Fatalf("remove: %v, left %v", err, h.vols)
	}
	if err := Remove(context.Background(), h, "shop_data"); err != nil {
		t.Errorf("removing a volume already gone: %v, want no error", err)
	}
	h.down = errGone
	if err := Remove(context.Background(), h, "shop_data"); !errors.Is(err, errGone) {
		t.Errorf("host gone: %v, want its error", err)
	}
}

func TestListAllNamesTheHostGone(t *testing.T) {
	a := newFakeHost(volume.Volume{Name: "shop_b", Labels: ours("shop", "b", "a")}, volume.Volume{Name: "shop_a", Labels: ours("shop", "a", "a")}, volume.Volume{Name: "blog_a", Labels: ours("blog", "a", "a")})
	b := newFakeHost()
	got, err := ListAll(context.Background(), []Host{{"a", a}, {"b", b}}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got["a"] {
		names = append(names, v.Name)
	}
	if !reflect.DeepEqual(names, []string{"shop_a", "shop_b"}) || len(got["b"]) != 0 {
		t.Errorf("got %v on a and %d on b, want the project's two, sorted, on a", names, len(got["b"]))
	}
	b.down = errGone
	if _, err := ListAll(context.Background(), []Host{{"a", a}, {"b", b}}, "shop"); !errors.Is(err, errGone) || !strings.Contains(err.Error(), `list volumes on host "b"`) {
		t.Errorf("host b gone: %v, want an error naming it", err)
	}
}

func TestRemoveAllLeavesOtherProjects(t *testing.T) {
	a := newFakeHost(volume.Volume{Name: "shop_data", Labels: ours("shop", "data", "a")}, volume.Volume{Name: "blog_data", Labels: ours("blog", "data", "a")}, volume.Volume{Name: "backups"})
	b := newFakeHost(volume.Volume{Name: "shop_cache", Labels: ours("shop", "cache", "b")})
	var mu sync.Mutex
	var events []string
	progress := func(name, host, status string) {
		mu.Lock()
		events = append(events, host+" "+name+" "+status)
		mu.Unlock()
	}
	if err := RemoveAll(context.Background(), []Host{{"a", a}, {"b", b}}, "shop", progress); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.vols["shop_data"]; ok || len(a.vols) != 2 || len(b.vols) != 0 {
		t.Errorf("left %v on a and %v on b, want only blog_data and backups on a", a.vols, b.vols)
	}
	sort.Strings(events)
	want := []string{"a shop_data Removed", "a shop_data Removing", "b shop_cache Removed", "b shop_cache Removing"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("progress %v, want %v", events, want)
	}
	b.down = errGone
	if err := RemoveAll(context.Background(), []Host{{"a", a}, {"b", b}}, "blog", progress); !errors.Is(err, errGone) || !strings.Contains(err.Error(), `list volumes on host "b"`) {
		t.Errorf("host b gone: %v, want an error naming it", err)
	}
}

func TestWhereFollowsTheFirstHostOfASplitVolume(t *testing.T) {
	onHost := map[string][]*volume.Volume{
		"c": {
			{Name: "shop_db", Driver: "local", Labels: ours("shop", "db", "c"), UsageData: &volume.UsageData{Size: 10}},
			{Name: "shop_cache", Labels: ours("shop", "cache", "c")},
		},
		"a": {
			{Name: "shop_db", Driver: "local", Labels: ours("shop", "db", "a"), UsageData: &volume.UsageData{Size: 20}},
			// One key under two names on one host (the file's name: changed)
			// is not a split.
			{Name: "renamed", Labels: ours("shop", "cache", "a")},
			{Name: "renamed2", Labels: ours("shop", "cache", "a")},
			{Name: "blog_db", Labels: ours("blog", "db", "a")},
			{Name: "byhand", Labels: map[string]string{labels.Project: "shop"}},
		},
		"b": {
			{Name: "shop_db", Labels: ours("shop", "db", "b")},
			{Name: "shop_logs", Labels: ours("shop", "logs", "b")},
		},
	}
	d := Where("shop", onHost)
	if want := map[string]string{"db": "a", "cache": "a", "logs": "b"}; !reflect.DeepEqual(d.Host, want) {
		t.Errorf("Host %v, want %v", d.Host, want)
	}
	if want := map[string][]string{"db": {"a", "b", "c"}, "cache": {"a", "c"}}; !reflect.DeepEqual(d.Split, want) {
		t.Errorf("Split %v, want %v", d.Split, want)
	}
	want := []Location{
		{Name: "byhand", Host: "a", Size: -1},
		{Name: "renamed", Key: "cache", Host: "a", Size: -1},
		{Name: "renamed2", Key: "cache", Host: "a", Size: -1},
		{Name: "shop_cache", Key: "cache", Host: "c", Size: -1},
		{Name: "shop_db", Key: "db", Host: "a", Driver: "local", Size: 20},
		{Name: "shop_db", Key: "db", Host: "b", Size: -1},
		{Name: "shop_db", Key: "db", Host: "c", Driver: "local", Size: 10},
		{Name: "shop_logs", Key: "logs", Host: "b", Size: -1},
	}
	if !reflect.DeepEqual(d.All, want) {
		t.Errorf("All\n%+v\nwant\n%+v", d.All, want)
	}
	if d := Where("none", onHost); len(d.All) != 0 || len(d.Host) != 0 || len(d.Split) != 0 {
		t.Errorf("a project with no volumes: %+v", d)
	}
}
