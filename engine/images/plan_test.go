package images

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/devorch/devorch/internal/testmodel"
)

// describePlan writes a plan as lines, in the order it runs:
// builds, pulls, copies, then the images used as they are.
func describePlan(pl imagePlan) []string {
	var out []string
	for _, j := range pl.builds {
		out = append(out, fmt.Sprintf("build %s on %s", j.ref, j.host))
	}
	for _, j := range pl.pulls {
		out = append(out, fmt.Sprintf("pull %s on %s", j.ref, j.host))
	}
	for _, j := range pl.copies {
		out = append(out, fmt.Sprintf("copy %s %s→%s", j.ref, j.from, j.host))
	}
	var use []string
	for svc, byHost := range pl.use {
		for h, id := range byHost {
			use = append(use, fmt.Sprintf("use %s on %s = %s", svc, h, id))
		}
	}
	sort.Strings(use)
	return append(out, use...)
}

func TestPlanImages(t *testing.T) {
	built := func(name, ref, policy string, hosts ...string) imageWant {
		s := types.ServiceConfig{Name: name}
		s.Build, s.PullPolicy = &types.BuildConfig{Context: "."}, policy
		return imageWant{service: name, svc: s, ref: ref, hosts: hosts}
	}
	pulled := func(name, ref, policy string, hosts ...string) imageWant {
		s := types.ServiceConfig{Name: name}
		s.Image, s.PullPolicy = ref, policy
		return imageWant{service: name, svc: s, ref: ref, hosts: hosts}
	}
	pool := []string{"a", "b", "c"}
	tests := []struct {
		name    string
		wants   []imageWant
		present map[imageKey]string
		o       Options
		want    []string
		wantErr string
	}{
		{name: "present is used",
			wants:   []imageWant{pulled("db", "pg", "", "a")},
			present: map[imageKey]string{{"a", "pg"}: "sha:1"},
			want:    []string{"use db on a = sha:1"}},
		{name: "missing everywhere is pulled",
			wants: []imageWant{pulled("db", "pg", "", "a")},
			want:  []string{"pull pg on a"}},
		{name: "missing here but on another host is copied from the first in pool order",
			wants:   []imageWant{pulled("db", "pg", "", "b")},
			present: map[imageKey]string{{"c", "pg"}: "sha:1", {"a", "pg"}: "sha:1"},
			want:    []string{"copy pg a→b"}},
		{name: "always pulls what is present",
			wants:   []imageWant{pulled("db", "pg", types.PullPolicyAlways, "a")},
			present: map[imageKey]string{{"a", "pg"}: "sha:1"},
			want:    []string{"pull pg on a"}},
		{name: "--pull overrides the service's policy",
			wants: []imageWant{pulled("db", "pg", types.PullPolicyNever, "a")},
			o:     Options{Pull: types.PullPolicyAlways},
			want:  []string{"pull pg on a"}},
		{name: "two services of one image pull it once per host",
			wants: []imageWant{pulled("db", "pg", types.PullPolicyAlways, "a"), pulled("db2", "pg", types.PullPolicyAlways, "a", "b")},
			want:  []string{"pull pg on a", "pull pg on b"}},
		{name: "never refuses a missing image",
			wants:   []imageWant{pulled("db", "pg", types.PullPolicyNever, "a")},
			wantErr: `service "db": image pg is not on host "a" and pull_policy is never`},
		{name: "never uses a present image",
			wants:   []imageWant{pulled("db", "pg", types.PullPolicyNever, "a")},
			present: map[imageKey]string{{"a", "pg"}: "sha:1"},
			want:    []string{"use db on a = sha:1"}},
		{name: "build policy without a build section",
			wants:   []imageWant{pulled("db", "pg", types.PullPolicyBuild, "a")},
			wantErr: `service "db": pull_policy is build but the service has no build section`},
		{name: "a bad policy is an error even under --pull",
			wants:   []imageWant{pulled("db", "pg", "every_x", "a")},
			o:       Options{Pull: types.PullPolicyAlways},
			wantErr: `service "db": `},
		{name: "the first error in service order wins",
			wants:   []imageWant{pulled("a-svc", "x", types.PullPolicyNever, "a"), pulled("b-svc", "y", "every_x", "a")},
			wantErr: `service "a-svc": image x is not on host "a"`},
		{name: "missing built image is built on one host and copied to the others",
			wants: []imageWant{built("web", "p-web", "", "a", "b")},
			want:  []string{"build p-web on a", "copy p-web a→b"}},
		{name: "missing built image present elsewhere is copied, not built",
			wants:   []imageWant{built("web", "p-web", "", "a")},
			present: map[imageKey]string{{"c", "p-web"}: "sha:9"},
			want:    []string{"copy p-web c→a"}},
		{name: "present built image is used",
			wants:   []imageWant{built("web", "p-web", "", "a")},
			present: map[imageKey]string{{"a", "p-web"}: "sha:9"},
			want:    []string{"use web on a = sha:9"}},
		{name: "--build builds even what another host has",
			wants:   []imageWant{built("web", "p-web", "", "a", "b")},
			present: map[imageKey]string{{"c", "p-web"}: "sha:9", {"a", "p-web"}: "sha:8"},
			o:       Options{Build: true},
			want:    []string{"build p-web on a", "copy p-web a→b"}},
		{name: "pull_policy build rebuilds",
			wants:   []imageWant{built("web", "p-web", types.PullPolicyBuild, "b")},
			present: map[imageKey]string{{"b", "p-web"}: "sha:9"},
			want:    []string{"build p-web on b"}},
		{name: "two services of one built image build it once",
			wants: []imageWant{built("web", "p-web", "", "a"), built("worker", "p-web", "", "a", "b")},
			want:  []string{"build p-web on a", "copy p-web a→b"}},
		{name: "a built service is never pulled, even under always",
			wants: []imageWant{built("web", "p-web", types.PullPolicyAlways, "a")},
			want:  []string{"build p-web on a"}},
		{name: "--no-build uses a present image",
			wants:   []imageWant{built("web", "p-web", "", "a")},
			present: map[imageKey]string{{"a", "p-web"}: "sha:9"},
			o:       Options{NoBuild: true, Build: true},
			want:    []string{"use web on a = sha:9"}},
		{name: "--no-build refuses a missing image, even if another host has it",
			wants:   []imageWant{built("web", "p-web", "", "a")},
			present: map[imageKey]string{{"b", "p-web"}: "sha:9"},
			o:       Options{NoBuild: true},
			wantErr: `service "web": image p-web is not on host "a" and --no-build forbids building it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := planImages(tt.wants, tt.present, pool, tt.o)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if got := describePlan(pl); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestResolveImageIDs(t *testing.T) {
	wants := []imageWant{
		{service: "db", ref: "pg", hosts: []string{"a"}},
		{service: "db2", ref: "pg", hosts: []string{"a", "b"}},
		{service: "web", ref: "p-web", hosts: []string{"a"}},
	}
	// db used the image it found on a; db2 pulled the same image on a and b
	// in this run: what was made wins for every service of that image.
	use := map[string]map[string]string{"db": {"a": "sha:old"}, "web": {"a": "sha:w"}}
	made := map[imageKey]string{{"a", "pg"}: "sha:new", {"b", "pg"}: "sha:newb"}
	got := resolveImageIDs(wants, use, made)
	want := map[string]map[string]string{
		"db":  {"a": "sha:new"},
		"db2": {"a": "sha:new", "b": "sha:newb"},
		"web": {"a": "sha:w"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if use["db"]["a"] != "sha:old" {
		t.Errorf("resolveImageIDs changed the plan's map: %v", use)
	}
}

var wantErr = testmodel.WantErr
