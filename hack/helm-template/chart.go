package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	yaml "gopkg.in/yaml.v2"
)

// Metadata is Chart.yaml, with the field names templates see (.Chart.Name, .Chart.AppVersion).
type Metadata struct {
	APIVersion   string            `yaml:"apiVersion"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Description  string            `yaml:"description"`
	Type         string            `yaml:"type"`
	Keywords     []string          `yaml:"keywords"`
	Home         string            `yaml:"home"`
	Sources      []string          `yaml:"sources"`
	Maintainers  []Maintainer      `yaml:"maintainers"`
	Icon         string            `yaml:"icon"`
	AppVersion   string            `yaml:"appVersion"`
	Deprecated   bool              `yaml:"deprecated"`
	Annotations  map[string]string `yaml:"annotations"`
	Dependencies []interface{}     `yaml:"dependencies"`
}

type Maintainer struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
}

// File is one file of the chart, by its slash-separated path relative to the chart root.
type File struct {
	Name string
	Data []byte
}

type Chart struct {
	Metadata  *Metadata
	Values    map[string]interface{}
	Templates []File // templates/**
	CRDs      []File // crds/**
	Files     Files  // everything else, as .Files sees it
}

var (
	chartNameRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	releaseNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func validateReleaseName(name string) error {
	if len(name) > 53 || !releaseNameRE.MatchString(name) {
		return fmt.Errorf("invalid release name %q: must be at most 53 characters of lowercase letters, digits, '-' and '.' (a DNS-1123 subdomain)", name)
	}
	return nil
}

func loadChart(dir string) (*Chart, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a chart: %v", dir, err)
	}
	md := &Metadata{}
	if err := yaml.UnmarshalStrict(raw, md); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %v", err)
	}
	switch {
	case md.APIVersion != "v2":
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2 (Helm 3), got %q", md.APIVersion)
	case md.Name == "":
		return nil, fmt.Errorf("Chart.yaml: name is required")
	case !chartNameRE.MatchString(md.Name):
		return nil, fmt.Errorf("Chart.yaml: name %q must be lowercase letters, digits and '-'", md.Name)
	case md.Version == "":
		return nil, fmt.Errorf("Chart.yaml: version is required")
	case md.Type != "" && md.Type != "application":
		return nil, fmt.Errorf("Chart.yaml: only application charts are supported, got type %q", md.Type)
	case len(md.Dependencies) > 0:
		return nil, fmt.Errorf("Chart.yaml: dependencies (subcharts) are not supported by this renderer")
	}
	if _, err := semver.StrictNewVersion(md.Version); err != nil {
		return nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2: %v", md.Version, err)
	}
	ch := &Chart{Metadata: md, Values: map[string]interface{}{}, Files: Files{}}

	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		v, err := readValues(raw)
		if err != nil {
			return nil, fmt.Errorf("cannot load values.yaml: %v", err)
		}
		ch.Values = v
	} else if !os.IsNotExist(err) {
		return nil, err
	}

	ignore, err := loadHelmignore(dir)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore.matches(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				return fmt.Errorf("subcharts (charts/) are not supported by this renderer")
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		case strings.HasPrefix(rel, "templates/"):
			ch.Templates = append(ch.Templates, File{rel, data})
		default:
			if strings.HasPrefix(rel, "crds/") {
				ch.CRDs = append(ch.CRDs, File{rel, data})
			}
			ch.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "values.schema.json")); err == nil {
		return nil, fmt.Errorf("values.schema.json is not supported by this renderer")
	}
	sort.Slice(ch.CRDs, func(i, j int) bool { return ch.CRDs[i].Name < ch.CRDs[j].Name })
	return ch, nil
}

// helmignore: the subset of .helmignore the chart needs: blank lines and # comments, glob
// patterns matched against the path and its base name, a trailing "/" for directories only.
type helmignore []string

func loadHelmignore(dir string) (helmignore, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ".helmignore"))
	if os.IsNotExist(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var h helmignore
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			return nil, fmt.Errorf(".helmignore: negated patterns (%q) are not supported by this renderer", line)
		}
		if _, err := path.Match(strings.TrimSuffix(line, "/"), "x"); err != nil {
			return nil, fmt.Errorf(".helmignore: bad pattern %q: %v", line, err)
		}
		h = append(h, line)
	}
	return h, nil
}

func (h helmignore) matches(rel string, isDir bool) bool {
	for _, p := range h {
		dirOnly := strings.HasSuffix(p, "/")
		p = strings.TrimPrefix(strings.TrimSuffix(p, "/"), "/")
		if dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, path.Base(rel)); ok {
				return true
			}
		}
	}
	return false
}

// Files is .Files: the chart's non-template files by path.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob returns the files whose paths match the pattern (path.Match syntax, "**" unsupported).
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for k, v := range f {
		if ok, _ := path.Match(pattern, k); ok {
			out[k] = v
		}
	}
	return out
}

// Lines splits a file into lines (for `range .Files.Lines "x"`).
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// AsConfig renders the files as the data map of a ConfigMap, keyed by base name.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions: "group/version" and "group/version/Kind" entries.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// The group-versions a plain v1.32 cluster serves (Helm's default set for `helm template`
// comes from client-go's scheme; this is its non-deprecated subset).
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1", "apps/v1", "authentication.k8s.io/v1",
	"authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1",
	"certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1",
	"node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1",
	"storage.k8s.io/v1",
}

func newCapabilities(kubeVersion string, extra []string) (*Capabilities, error) {
	v, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid --kube-version %q: %v", kubeVersion, err)
	}
	set := append(VersionSet{}, defaultAPIVersions...)
	for _, e := range extra {
		if e = strings.TrimSpace(e); e != "" {
			set = append(set, e)
		}
	}
	return &Capabilities{
		KubeVersion: KubeVersion{
			Version: "v" + v.String(),
			Major:   fmt.Sprint(v.Major()),
			Minor:   fmt.Sprint(v.Minor()),
		},
		APIVersions: set,
		HelmVersion: map[string]string{"Version": "v3.17.0", "GitCommit": "", "GoVersion": ""},
	}, nil
}

// checkKubeVersion applies Chart.yaml's kubeVersion constraint, as helm install/template do.
func checkKubeVersion(ch *Chart, caps *Capabilities) error {
	if ch.Metadata.KubeVersion == "" {
		return nil
	}
	c, err := semver.NewConstraint(ch.Metadata.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml: invalid kubeVersion %q: %v", ch.Metadata.KubeVersion, err)
	}
	v, _ := semver.NewVersion(caps.KubeVersion.Version)
	if !c.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	return nil
}
