package config

import "reflect"

// EndpointFile is the content of an EDS cluster's endpoint file: either a
// ClusterLoadAssignment itself, or an xDS DiscoveryResponse whose
// resources are ClusterLoadAssignments (what Envoy's path_config_source
// reads). YAML or JSON.
type EndpointFile struct {
	VersionInfo string        `yaml:"version_info"`
	TypeURL     string        `yaml:"type_url"`
	Resources   []EDSResource `yaml:"resources"`
	// The ClusterLoadAssignment form.
	ClusterName string                `yaml:"cluster_name"`
	Endpoints   []LocalityLbEndpoints `yaml:"endpoints"`
	Policy      *LoadAssignmentPolicy `yaml:"policy"`
}

// EDSResource is one ClusterLoadAssignment of a DiscoveryResponse.
type EDSResource struct {
	Type        string                `yaml:"@type"`
	ClusterName string                `yaml:"cluster_name"`
	Endpoints   []LocalityLbEndpoints `yaml:"endpoints"`
	Policy      *LoadAssignmentPolicy `yaml:"policy"`
}

const claType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// ParseEndpointFile decodes and validates an endpoint file for the service
// (the cluster's eds service_name, or its name). Endpoints must be IP
// addresses. Errors are *Errors with source and YAML paths, like config
// errors.
func ParseEndpointFile(data []byte, source, service string) (*LoadAssignment, error) {
	tree, err := readYAML(data)
	if err != nil {
		return nil, &Errors{Source: source, List: yamlErrors(err)}
	}
	p := newProblems()
	p.setLines(locate(data))
	f := new(EndpointFile)
	setDefaults(reflect.ValueOf(f).Elem())
	(&decoder{p: p}).value("", tree, reflect.ValueOf(f).Elem())
	bad := make([]string, len(p.list))
	for i, e := range p.list {
		bad[i] = e.Path
	}
	v := &validator{p: p, bad: bad}
	out := v.endpointFile(f, service)
	if len(p.list) > 0 {
		return nil, &Errors{Source: source, List: p.sorted()}
	}
	return out, nil
}

func (v *validator) endpointFile(f *EndpointFile, service string) *LoadAssignment {
	direct := f.ClusterName != "" || len(f.Endpoints) > 0 || f.Policy != nil
	if direct && len(f.Resources) > 0 {
		v.fail("resources", "a file holds either a ClusterLoadAssignment or a DiscoveryResponse (resources), not both")
		return nil
	}
	la := &LoadAssignment{ClusterName: f.ClusterName, Endpoints: f.Endpoints, Policy: f.Policy}
	path := ""
	if !direct {
		found := -1
		for i := range f.Resources {
			r := &f.Resources[i]
			if r.Type != "" && r.Type != claType {
				v.failf(index("resources", i)+".@type", "want %s", claType)
			}
			if r.ClusterName == service || (r.ClusterName == "" && len(f.Resources) == 1) {
				found = i
			}
		}
		if found < 0 {
			v.failf("resources", "no ClusterLoadAssignment for cluster_name %q", service)
			return nil
		}
		r := &f.Resources[found]
		la = &LoadAssignment{ClusterName: r.ClusterName, Endpoints: r.Endpoints, Policy: r.Policy}
		path = index("resources", found) + "."
	} else if f.ClusterName != "" && f.ClusterName != service {
		v.failf("cluster_name", "is %q; this cluster reads the load assignment of %q", f.ClusterName, service)
	}
	if p := la.Policy; p != nil && p.OverprovisioningFactor < 1 {
		v.fail(path+"policy.overprovisioning_factor", "must be positive")
	}
	for i := range la.Endpoints {
		g := &la.Endpoints[i]
		gPath := index(path+"endpoints", i)
		v.intRange(gPath+".priority", g.Priority, 0, maxPriority)
		for j := range g.LbEndpoints {
			v.lbEndpoint(index(gPath+".lb_endpoints", j), &g.LbEndpoints[j], ClusterEDS)
		}
	}
	return la
}
