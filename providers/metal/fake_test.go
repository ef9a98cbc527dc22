package metal

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMetal is an in-process stand-in for the Equinix Metal API (the public service is
// retired, so nothing real is left to test against). It implements the endpoints the
// provider calls, with the API's JSON shapes, status codes and error bodies:
//
//	GET    /metal/v1/projects/{id}/devices   tag, hostname, page, per_page; paginated meta
//	POST   /metal/v1/projects/{id}/devices   DeviceCreateInMetroInput; 422 on bad input
//	GET    /metal/v1/devices/{id}            queued -> provisioning -> active over polls
//	GET    /metal/v1/projects/{id}/ips       the project's IP reservations
//
// A create's ip_addresses that name reservations get exactly those addresses (a /32
// reservation is one address); the others get Metal's own, from 147.75.90.0/24 (public)
// and 10.70.12.128/25 (private).
//
//	DELETE /metal/v1/devices/{id}            204
//
// Every request must carry the X-Auth-Token (401 otherwise). Pages hold at most 2
// devices so that listing a cluster always crosses pages.
type fakeMetal struct {
	srv     *httptest.Server
	token   string
	project string

	mu       sync.Mutex
	devices  []*fakeDevice
	creates  map[string]map[string]any // device id -> the create request body
	requests []string
	failNext map[string]string // hostname -> error to answer its next create with
	seq      int
	// reservations are the project's reserved addresses, by id.
	reservations map[string]fakeReservation
	// answers are statuses the next requests get instead of being served: 429 with
	// Retry-After 0 (the API's rate limit), or a 5xx; each goes to the next request of its
	// method ("" for any).
	answers []answer
}

type fakeReservation struct {
	address string
	cidr    int
	public  bool
}

type answer struct {
	method string
	status int
}

type fakeDevice struct {
	id, hostname, state, plan, metro, os, userdata, ipxe string
	alwaysPXE                                            bool
	tags                                                 []string
	public, private                                      string
	polls                                                int
	created                                              time.Time
}

const pageMax = 2

var (
	plans  = []string{"c3.small.x86", "m3.large.x86"}
	metros = []string{"da", "sv"}
	oses   = []string{"debian_12", "ubuntu_24_04", "flatcar_stable", "custom_ipxe"}
)

func newFakeMetal(t *testing.T) *fakeMetal {
	f := &fakeMetal{token: "metal-token-123", project: "7b1c2e64-4d3f-4a8e-9a7f-2d1c0b9e8f01", creates: map[string]map[string]any{}, failNext: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMetal) apiURL() string { return f.srv.URL + "/metal/v1" }

var (
	projectDevicesRE = regexp.MustCompile(`^/metal/v1/projects/([^/]+)/devices$`)
	projectIPsRE     = regexp.MustCompile(`^/metal/v1/projects/([^/]+)/ips$`)
	deviceRE         = regexp.MustCompile(`^/metal/v1/devices/([^/]+)$`)
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeMetal) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if i := slices.IndexFunc(f.answers, func(a answer) bool { return a.method == "" || a.method == r.Method }); i >= 0 {
		status := f.answers[i].status
		f.answers = slices.Delete(f.answers, i, i+1)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, status, map[string][]string{"errors": {"Rate limit exceeded"}})
			return
		}
		writeJSON(w, status, map[string][]string{"errors": {"Service Unavailable"}})
		return
	}
	if r.Header.Get("X-Auth-Token") != f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Invalid authentication token"})
		return
	}
	if m := projectDevicesRE.FindStringSubmatch(r.URL.Path); m != nil {
		if m[1] != f.project {
			writeJSON(w, http.StatusNotFound, map[string][]string{"errors": {"Not found"}})
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.list(w, r)
		case http.MethodPost:
			f.create(w, r)
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string][]string{"errors": {"Method not allowed"}})
		}
		return
	}
	if m := projectIPsRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		var ips []any
		for _, id := range slices.Sorted(maps.Keys(f.reservations)) {
			res := f.reservations[id]
			typ := "private_ipv4"
			if res.public {
				typ = "public_ipv4"
			}
			ips = append(ips, map[string]any{"id": id, "href": "/metal/v1/ips/" + id, "address": res.address, "network": res.address, "address_family": 4,
				"cidr": res.cidr, "public": res.public, "type": typ, "management": false, "manageable": true, "state": "created", "netmask": "255.255.255.255"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"ip_addresses": ips, "meta": map[string]any{"current_page": 1, "last_page": 1, "total": len(ips)}})
		return
	}
	if m := deviceRE.FindStringSubmatch(r.URL.Path); m != nil {
		d := f.device(m[1])
		if d == nil {
			writeJSON(w, http.StatusNotFound, map[string][]string{"errors": {"Not found"}})
			return
		}
		switch r.Method {
		case http.MethodGet:
			d.polls++
			switch {
			case d.state == "queued" && d.polls >= 1:
				d.state = "provisioning"
			case d.state == "provisioning" && d.polls >= 2:
				d.state = "active"
			}
			writeJSON(w, http.StatusOK, f.json(d))
		case http.MethodDelete:
			d.state = "deleted"
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	writeJSON(w, http.StatusNotFound, map[string][]string{"errors": {"Not found"}})
}

func (f *fakeMetal) device(id string) *fakeDevice {
	for _, d := range f.devices {
		if d.id == id && d.state != "deleted" {
			return d
		}
	}
	return nil
}

func (f *fakeMetal) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var match []*fakeDevice
	for _, d := range f.devices {
		if d.state == "deleted" {
			continue
		}
		if t := q.Get("tag"); t != "" && !slices.Contains(d.tags, t) {
			continue
		}
		if h := q.Get("hostname"); h != "" && d.hostname != h {
			continue
		}
		match = append(match, d)
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per < 1 || per > pageMax {
		per = pageMax
	}
	last := max((len(match)+per-1)/per, 1)
	from, to := min((page-1)*per, len(match)), min(page*per, len(match))
	devs := []any{}
	for _, d := range match[from:to] {
		devs = append(devs, f.json(d))
	}
	href := func(p int) map[string]string {
		return map[string]string{"href": fmt.Sprintf("/metal/v1/projects/%s/devices?page=%d&per_page=%d", f.project, p, per)}
	}
	meta := map[string]any{"first": href(1), "last": href(last), "self": href(page), "current_page": page, "last_page": last, "total": len(match)}
	if page < last {
		meta["next"] = href(page + 1)
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": devs, "meta": meta})
}

func (f *fakeMetal) create(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string][]string{"errors": {"Invalid JSON: " + err.Error()}})
		return
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	var problems []string
	if !slices.Contains(metros, str("metro")) {
		problems = append(problems, fmt.Sprintf("Metro %q is not a valid metro", str("metro")))
	}
	if !slices.Contains(plans, str("plan")) {
		problems = append(problems, fmt.Sprintf("Plan %q could not be found", str("plan")))
	}
	if !slices.Contains(oses, str("operating_system")) {
		problems = append(problems, fmt.Sprintf("Operating system %q could not be found", str("operating_system")))
	}
	if str("operating_system") == "custom_ipxe" && str("ipxe_script_url") == "" && !strings.HasPrefix(str("userdata"), "#!ipxe") {
		problems = append(problems, "ipxe_script_url is required for custom_ipxe unless userdata holds an iPXE script")
	}
	if !regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$`).MatchString(str("hostname")) {
		problems = append(problems, "Hostname is invalid")
	}
	var public, private string
	if ips, ok := in["ip_addresses"].([]any); ok {
		for _, x := range ips {
			ip, _ := x.(map[string]any)
			resIDs, _ := ip["ip_reservations"].([]any)
			for _, id := range resIDs {
				res, ok := f.reservations[id.(string)]
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("IP reservation %v not found", id))
				case res.cidr != 32:
					problems = append(problems, fmt.Sprintf("IP reservation %v is a /%d: give its cidr", id, res.cidr))
				case res.public:
					public = res.address
				default:
					private = res.address
				}
			}
		}
	}
	if msg, ok := f.failNext[str("hostname")]; ok {
		delete(f.failNext, str("hostname"))
		problems = append(problems, msg)
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string][]string{"errors": problems})
		return
	}
	f.seq++
	d := &fakeDevice{
		id: fmt.Sprintf("4f8e%04x-6c1d-4b2a-8e3f-%012x", f.seq, f.seq), hostname: str("hostname"), state: "queued",
		plan: str("plan"), metro: str("metro"), os: str("operating_system"), userdata: str("userdata"), ipxe: str("ipxe_script_url"),
		tags: []string{}, public: fmt.Sprintf("147.75.90.%d", 10+f.seq), private: fmt.Sprintf("10.70.12.%d", 130+f.seq), created: time.Date(2026, 11, 24, 20, 0, f.seq, 0, time.UTC),
	}
	if public != "" {
		d.public = public
	}
	if private != "" {
		d.private = private
	}
	d.alwaysPXE, _ = in["always_pxe"].(bool)
	if tags, ok := in["tags"].([]any); ok {
		for _, t := range tags {
			d.tags = append(d.tags, t.(string))
		}
	}
	f.devices = append(f.devices, d)
	f.creates[d.id] = in
	writeJSON(w, http.StatusCreated, f.json(d))
}

// json is a device as the API shows it (a subset of its many fields, with their shapes).
func (f *fakeMetal) json(d *fakeDevice) map[string]any {
	ips := []any{}
	if d.state == "active" {
		ips = []any{
			map[string]any{"id": "a1", "address_family": 4, "netmask": "255.255.255.254", "public": true, "management": true, "address": d.public, "gateway": "147.75.90.1", "cidr": 31, "href": "/metal/v1/ips/a1"},
			map[string]any{"id": "a2", "address_family": 4, "netmask": "255.255.255.254", "public": false, "management": true, "address": d.private, "gateway": "10.70.12.129", "cidr": 31, "href": "/metal/v1/ips/a2"},
			map[string]any{"id": "a3", "address_family": 6, "public": true, "management": true, "address": "2604:1380:4641:c500::1", "cidr": 127, "href": "/metal/v1/ips/a3"},
		}
	}
	return map[string]any{
		"id": d.id, "href": "/metal/v1/devices/" + d.id, "short_id": d.id[:8], "hostname": d.hostname, "state": d.state,
		"description": "", "tags": d.tags, "userdata": d.userdata, "always_pxe": d.alwaysPXE, "ipxe_script_url": d.ipxe,
		"billing_cycle": "hourly", "locked": false, "spot_instance": false, "created_at": d.created.Format(time.RFC3339), "updated_at": d.created.Format(time.RFC3339),
		"plan":             map[string]any{"id": "p-" + d.plan, "slug": d.plan, "name": d.plan, "class": d.plan},
		"metro":            map[string]any{"id": "m-" + d.metro, "code": d.metro, "name": strings.ToUpper(d.metro), "country": "US"},
		"operating_system": map[string]any{"id": "os-" + d.os, "slug": d.os, "name": d.os, "distro": strings.Split(d.os, "_")[0]},
		"ip_addresses":     ips,
		"project":          map[string]any{"href": "/metal/v1/projects/" + f.project},
		"network_ports":    []any{},
		"volumes":          []any{},
		"ssh_keys":         []any{},
	}
}

func (f *fakeMetal) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}
