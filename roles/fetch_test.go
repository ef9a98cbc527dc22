package roles_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// mirrorModels builds every node's model of an example plan whose mirror `kisgen mirror
// build` made for it (rendertest.MirrorPlan).
func mirrorModels(t *testing.T, example string) map[string]*roles.Node {
	t.Helper()
	nodes, warnings := rendertest.Models(t, rendertest.MirrorPlan(t, example))
	for _, w := range warnings {
		if strings.Contains(w, "mirror") {
			t.Errorf("warning for a mirror built for the plan: %s", w)
		}
	}
	return byHost(nodes, nil)
}

// TestSharedFilesAreFetchedFromTheMirror: with a mirror built for the plan, each node
// downloads the big files every node shares and carries their sums; without a mirror
// nothing changes (no list, no download script, the install unit as before).
func TestSharedFilesAreFetchedFromTheMirror(t *testing.T) {
	withMirror := mirrorModels(t, "ha.yaml")
	_, without := model(t, "ha.yaml")

	fetched := func(n *roles.Node) []string {
		var out []string
		for _, f := range n.Files {
			if f.Fetch != "" {
				out = append(out, f.Path)
				if want := rendertest.MirrorURL + "/" + roles.NodeFileMirrorPath(f.SHA256); f.Fetch != want {
					t.Errorf("%s: %s is fetched from %s, want %s", n.Host, f.Path, f.Fetch, want)
				}
				if line := fmt.Sprintf("%s\t%#04o\t%s\t%s\n", f.Path, f.Mode.Perm(), f.SHA256, f.Fetch); !strings.Contains(file(t, n, roles.FetchListPath).Content, line) {
					t.Errorf("%s: %s is not in %s", n.Host, f.Path, roles.FetchListPath)
				}
			}
		}
		return out
	}
	for host, n := range withMirror {
		got := fetched(n)
		for _, want := range []string{roles.LibPath, roles.BinDir + "/kisgen-bootstrap", roles.BinDir + "/kisgen-preflight"} {
			if !contains(got, want) {
				t.Errorf("%s does not download %s (downloads %v)", host, want, got)
			}
		}
		if host == "master1" && !contains(got, roles.AddOnsDir+"/coredns/coredns.yaml") {
			t.Errorf("the first master does not download the CoreDNS manifest: %v", got)
		}
		if !hasFile(n, roles.FetchScript) || !strings.Contains(unit(t, n, "kisgen-install.service").Content, "ExecStartPre="+roles.FetchScript+"\n") {
			t.Errorf("%s: no %s run before the bootstrap", host, roles.FetchScript)
		}
		if f := file(t, n, roles.FetchScript); f.Fetch != "" {
			t.Errorf("%s: the download script itself is downloaded", host)
		}
		// The node holds the same files either way (verify checks them all), plus the
		// list and the script, and, on the first master with network policy on, the
		// declared-ports controller, whose image only a mirror carries.
		extra := 2
		if hasFile(n, roles.AddOnsDir+"/declared-ports.yaml") {
			extra++
		}
		if len(n.Expect.Files) != len(without[host].Expect.Files)+extra {
			t.Errorf("%s expects %d files with a mirror, %d without (+%d)", host, len(n.Expect.Files), len(without[host].Expect.Files), extra)
		}
	}
	for host, n := range without {
		if got := fetched(n); len(got) != 0 || hasFile(n, roles.FetchListPath) || hasFile(n, roles.FetchScript) ||
			strings.Contains(unit(t, n, "kisgen-install.service").Content, "ExecStartPre") {
			t.Errorf("%s downloads %v without a mirror", host, got)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFetchScriptPlacesCheckedFiles runs kisgen-fetch against a fake root: it downloads
// every listed file with its mode, checks it against its sum, does nothing on a rerun,
// and stops with a failed status file when the mirror serves something else.
func TestFetchScriptPlacesCheckedFiles(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	n := mirrorModels(t, "ha.yaml")["master1"]
	var mu sync.Mutex
	served, hits := map[string]string{}, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, ok := served[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hits++
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	var fetched []roles.File
	for _, f := range n.Files {
		if f.Fetch != "" {
			fetched = append(fetched, f)
			served[strings.TrimPrefix(f.Fetch, rendertest.MirrorURL)] = f.Content
			continue
		}
		writeFile(t, filepath.Join(root, f.Path), f.Content, f.Mode)
	}
	list := filepath.Join(root, roles.FetchListPath)
	writeFile(t, list, strings.ReplaceAll(file(t, n, roles.FetchListPath).Content, rendertest.MirrorURL, srv.URL), 0o644)
	status := filepath.Join(root, roles.StatusPath)
	run := func() (int, string) {
		return runFetch(t, root, "http_proxy=", "https_proxy=", "HTTPS_PROXY=", "no_proxy=*")
	}

	if code, out := run(); code != 0 {
		t.Fatalf("kisgen-fetch exited %d:\n%s", code, out)
	}
	checkPlaced(t, root, fetched)
	if hits != len(fetched) {
		t.Errorf("%d downloads for %d files", hits, len(fetched))
	}

	hits = 0
	if code, out := run(); code != 0 || hits != 0 {
		t.Errorf("a rerun exited %d after %d downloads, want 0 and none:\n%s", code, hits, out)
	}

	// A file gone and the mirror serving another one: stop, say why.
	if err := os.Remove(filepath.Join(root, fetched[0].Path)); err != nil {
		t.Fatal(err)
	}
	served[strings.TrimPrefix(fetched[0].Fetch, rendertest.MirrorURL)] = "something else\n"
	code, out := run()
	st := readStatus(t, status)
	if code != 1 || st.Phase != roles.PhaseFailed || !strings.Contains(st.Error, "expected "+fetched[0].SHA256) || st.Host != "master1" ||
		st.ConfigSHA256 != n.ConfigSHA256 || !strings.Contains(out, "<3>error:") {
		t.Errorf("wrong file served: exit %d, status %+v\n%s", code, st, out)
	}
	if _, err := os.Stat(filepath.Join(root, fetched[0].Path)); err == nil {
		t.Errorf("%s was put in place with the wrong content", fetched[0].Path)
	}

	sc := testtool.Require(t, "shellcheck", "shellcheck")
	if out, err := exec.Command(sc, "--severity=style", filepath.Join(root, roles.FetchScript)).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestStaleMirrorKeepsFilesInline: a shared file the mirror's checksums do not list (the
// plan changed after `kisgen mirror build`) stays in the user-data, with a warning.
func TestStaleMirrorKeepsFilesInline(t *testing.T) {
	p := rendertest.MirrorPlan(t, "ha.yaml")
	sumsPath := filepath.Join(filepath.Dir(p.File), "mirror", "SHA256SUMS")
	data, err := os.ReadFile(sumsPath)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := roles.SharedFiles(p, roles.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	var dropped roles.File
	for _, f := range shared {
		if f.Path == roles.BinDir+"/kisgen-bootstrap" {
			dropped = f
		}
	}
	writeFile(t, sumsPath, strings.Replace(string(data), dropped.SHA256+"  "+roles.NodeFileMirrorPath(dropped.SHA256)+"\n", "", 1), 0o644)
	nodes, warnings := rendertest.Models(t, p)
	n := byHost(nodes, nil)["worker1"]
	if f := file(t, n, dropped.Path); f.Fetch != "" || f.Content != dropped.Content {
		t.Errorf("%s is downloaded though the mirror does not list it", dropped.Path)
	}
	if f := file(t, n, roles.LibPath); f.Fetch == "" {
		t.Errorf("%s is no longer downloaded", roles.LibPath)
	}
	if w := strings.Join(warnings, "\n"); !strings.Contains(w, "1 of the files shared by the nodes") || !strings.Contains(w, "kisgen mirror build") {
		t.Errorf("no warning about the stale mirror: %s", w)
	}
}

// bakedEdit turns an example plan into one whose nodes run a baked image.
var bakedEdit = []string{"  version: v1.37.2\n", "  version: v1.37.2\n  disable_package_installation: true\n"}

// TestBakedPlanTakesScriptsFromTheImage: a plan whose nodes run a baked image names
// kisgen's scripts by sum only, to be taken from the image's store (URL "-"), and keeps
// everything a plan decides in the user-data; ImageFiles, what `kisgen packer` bakes, are
// those very scripts whatever the plan.
func TestBakedPlanTakesScriptsFromTheImage(t *testing.T) {
	images, err := roles.ImageFiles()
	if err != nil {
		t.Fatal(err)
	}
	var imagePaths []string
	for _, f := range images {
		imagePaths = append(imagePaths, f.Path)
	}
	for _, want := range []string{roles.LibPath, roles.BinDir + "/kisgen-bootstrap", roles.BinDir + "/kisgen-preflight", roles.BinDir + "/kisgen-addons"} {
		if !contains(imagePaths, want) {
			t.Errorf("ImageFiles lacks %s: %v", want, imagePaths)
		}
	}
	_, baked := model(t, "ha.yaml", bakedEdit...)
	_, inline := model(t, "minimal.yaml")
	for _, f := range images {
		// Another plan, rendered inline, has the same script: the sums do not depend on
		// the plan.
		found := false
		for _, n := range inline {
			if hasFile(n, f.Path) {
				found = true
				if got := file(t, n, f.Path); got.SHA256 != f.SHA256 {
					t.Errorf("%s: sum %s in minimal.yaml's user-data, %s baked: the script reads the plan", f.Path, got.SHA256, f.SHA256)
				}
			}
		}
		if !found {
			t.Errorf("%s is on no node of minimal.yaml", f.Path)
		}
	}
	for host, n := range baked {
		list := file(t, n, roles.FetchListPath).Content
		for _, f := range images {
			if !hasFile(n, f.Path) {
				continue // the add-ons script is on masters only
			}
			got := file(t, n, f.Path)
			if got.Fetch != roles.FetchFromImage {
				t.Errorf("%s: %s is not taken from the image (Fetch %q)", host, f.Path, got.Fetch)
			}
			if line := fmt.Sprintf("%s\t%#04o\t%s\t-\n", f.Path, f.Mode.Perm(), f.SHA256); !strings.Contains(list, line) {
				t.Errorf("%s: %q is not in %s:\n%s", host, line, roles.FetchListPath, list)
			}
		}
		for _, f := range n.Files {
			if f.Fetch != "" && f.Fetch != roles.FetchFromImage {
				t.Errorf("%s: %s is downloaded from %s without a mirror", host, f.Path, f.Fetch)
			}
			if f.Fetch == roles.FetchFromImage && !contains(imagePaths, f.Path) {
				t.Errorf("%s: %s, which the plan decides, is taken from the image", host, f.Path)
			}
		}
		if !strings.Contains(unit(t, n, "kisgen-install.service").Content, "ExecStartPre="+roles.FetchScript+"\n") {
			t.Errorf("%s: no %s before the bootstrap", host, roles.FetchScript)
		}
	}
}

// TestFetchScriptTakesFilesFromTheImage runs kisgen-fetch of a baked plan's node against
// a fake root: the scripts come from the image's store and are checked; a store without
// them (an image baked by another kisgen) stops it with a reason naming the remedy.
func TestFetchScriptTakesFilesFromTheImage(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	_, nodes := model(t, "ha.yaml", bakedEdit...)
	n := nodes["worker1"]
	root := t.TempDir()
	var fromImage []roles.File
	for _, f := range n.Files {
		if f.Fetch == roles.FetchFromImage {
			fromImage = append(fromImage, f)
			continue
		}
		writeFile(t, filepath.Join(root, f.Path), f.Content, f.Mode)
	}
	run := func() (int, string) { return runFetch(t, root) }

	// An image baked by another kisgen: no store entry, no URL.
	code, out := run()
	st := readStatus(t, filepath.Join(root, roles.StatusPath))
	if code != 1 || st.Phase != roles.PhaseFailed || !strings.Contains(st.Error, "baked by another kisgen version") || !strings.Contains(st.Error, "kisgen packer") {
		t.Errorf("no store: exit %d, status %+v\n%s", code, st, out)
	}

	images, err := roles.ImageFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range images {
		writeFile(t, filepath.Join(root, roles.ImageFilePath(f.SHA256)), f.Content, 0o644)
	}
	if code, out := run(); code != 0 {
		t.Fatalf("kisgen-fetch exited %d:\n%s", code, out)
	}
	checkPlaced(t, root, fromImage)

	// A store entry that is not what its name says is refused.
	if err := os.Remove(filepath.Join(root, fromImage[0].Path)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, roles.ImageFilePath(fromImage[0].SHA256)), "something else\n", 0o644)
	code, out = run()
	st = readStatus(t, filepath.Join(root, roles.StatusPath))
	if code != 1 || !strings.Contains(st.Error, "expected "+fromImage[0].SHA256) {
		t.Errorf("a wrong store entry: exit %d, status %+v\n%s", code, st, out)
	}
	if _, err := os.Stat(filepath.Join(root, fromImage[0].Path)); err == nil {
		t.Errorf("%s was put in place with the wrong content", fromImage[0].Path)
	}
}

// runFetch runs the kisgen-fetch script installed under root with KISGEN_ROOT=root and env,
// and returns its exit status and output.
func runFetch(t *testing.T, root string, env ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, roles.FetchScript))
	cmd.Env = envWith(os.Environ(), append([]string{"KISGEN_ROOT=" + root}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// checkPlaced checks that each file is under root with its content and mode.
func checkPlaced(t *testing.T, root string, files []roles.File) {
	t.Helper()
	for _, f := range files {
		path := filepath.Join(root, f.Path)
		data, err := os.ReadFile(path)
		if err != nil || string(data) != f.Content {
			t.Errorf("%s is not in place: %v", f.Path, err)
			continue
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != f.Mode.Perm() {
			t.Errorf("%s has mode %v, want %v", f.Path, fi.Mode().Perm(), f.Mode.Perm())
		}
	}
}
