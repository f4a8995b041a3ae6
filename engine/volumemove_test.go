package engine

import (
	"reflect"
	"testing"
)

func TestVolumeToMove(t *testing.T) {
	data := VolumeEntry{Name: "p_data", Key: "data", Host: "a"}
	cache := VolumeEntry{Name: "p_cache", Key: "cache", Host: "b"}
	for _, tc := range []struct {
		name, vol, to string
		list          []VolumeEntry
		want          VolumeEntry
		err           string
	}{
		{name: "by key", vol: "data", to: "b", list: []VolumeEntry{cache, data}, want: data},
		{name: "by full name", vol: "p_data", to: "b", list: []VolumeEntry{data, cache}, want: data},
		{name: "missing", vol: "logs", to: "b", list: []VolumeEntry{data},
			err: `project "p" has no volume "logs" on a reachable host`},
		{name: "on several hosts", vol: "data", to: "c", list: []VolumeEntry{data, {Name: "p_data", Key: "data", Host: "b"}},
			err: `volume "data" exists on several hosts (a b); remove the stale one first`},
		{name: "already there", vol: "data", to: "a", list: []VolumeEntry{data},
			err: `volume p_data is already on host "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := volumeToMove(tc.list, "p", tc.vol, tc.to)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestVolumeUsersAndRefusal(t *testing.T) {
	web := Container{ID: "1", Name: "p-web-1", Service: "web", State: "running"}
	worker := Container{ID: "2", Name: "p-worker-1", Service: "worker", State: "restarting"}
	job := Container{ID: "3", Name: "p-job-1", Service: "job", State: "exited"}
	other := Container{ID: "4", Name: "p-db-1", Service: "db", State: "running"}
	v := VolumeEntry{Name: "p_data", Host: "a"}
	for _, tc := range []struct {
		name   string
		cs     []Container
		usedBy []string
		users  []string // IDs, in order
		err    string
	}{
		{name: "none", cs: []Container{other}, usedBy: nil},
		{name: "stopped users only", cs: []Container{other, job}, usedBy: []string{"p-job-1"}, users: []string{"3"}},
		{name: "listing order, running and restarting refuse", cs: []Container{job, worker, other, web},
			usedBy: []string{"p-web-1", "p-job-1", "p-worker-1"}, users: []string{"3", "2", "1"},
			err: `volume p_data is in use by running service(s) worker, web on host "a"; stop them first (devorch stop worker web)`},
		{name: "mounted twice counts twice", cs: []Container{job}, usedBy: []string{"p-job-1", "p-job-1"}, users: []string{"3", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := volumeUsers(tc.cs, tc.usedBy)
			var ids []string
			for _, c := range users {
				ids = append(ids, c.ID)
			}
			if !reflect.DeepEqual(ids, tc.users) {
				t.Errorf("users = %v, want %v", ids, tc.users)
			}
			err := refuseRunningUsers(v, users)
			if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
				t.Errorf("refusal = %v, want %q", err, tc.err)
			}
		})
	}
}
