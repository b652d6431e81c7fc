package tlscontext

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Source is PEM text: a file (re-read when it changes) or inline bytes.
type Source struct {
	Path   string
	Inline []byte
}

func (s Source) read() ([]byte, error) {
	if s.Path == "" {
		return s.Inline, nil
	}
	return os.ReadFile(s.Path)
}

func (s Source) describe() string {
	if s.Path == "" {
		return "inline PEM"
	}
	return s.Path
}

// KeyPair is a certificate chain and its private key.
type KeyPair struct {
	Chain, Key Source
}

// Params are the protocol parameters both sides share.
type Params struct {
	MinVersion, MaxVersion uint16 // 0: TLS 1.2 / TLS 1.3
	CipherSuites           []uint16
	Curves                 []tls.CurveID
	ALPN                   []string
}

// ServerOptions describe a DownstreamTlsContext.
type ServerOptions struct {
	Params
	Certificates []KeyPair // at least one; chosen by SNI and key type
	// ClientCA, when set, asks clients for a certificate chaining to it;
	// RequireClientCert refuses clients without one.
	ClientCA               *Source
	RequireClientCert      bool
	SessionTicketsDisabled bool
}

// ClientOptions describe an UpstreamTlsContext.
type ClientOptions struct {
	Params
	// SNI is sent, and the endpoint's certificate must be valid for it;
	// empty: no SNI, and the certificate is checked for its chain only.
	SNI         string
	Certificate *KeyPair // client certificate (mTLS); nil: none
	// CA is what endpoint certificates must chain to; nil: the system's
	// roots. AcceptUntrusted skips the check entirely.
	CA              *Source
	AcceptUntrusted bool
}

// Context is a compiled TLS context. Config is what connections use; a
// reload builds a new tls.Config from the files and swaps it in, so
// established connections keep the one they started with.
type Context struct {
	name  string
	build func() (*tls.Config, []byte, error)
	files []string

	cur atomic.Pointer[tls.Config]

	mu     sync.Mutex // serialises reloads
	digest []byte     // the material the current config was built from
}

// Name is the context's YAML path (for logs and errors).
func (c *Context) Name() string { return c.name }

// Config is the current tls.Config. Safe from any goroutine; do not
// modify it.
func (c *Context) Config() *tls.Config { return c.cur.Load() }

// Files are the files the context reads.
func (c *Context) Files() []string { return c.files }

// Reload re-reads the files and, if their content changed, swaps in a new
// config. changed reports a swap; on error the current config stays.
func (c *Context) Reload() (changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, digest, err := c.build()
	if err != nil {
		return false, err
	}
	if c.cur.Load() != nil && bytes.Equal(digest, c.digest) {
		return false, nil
	}
	c.cur.Store(cfg)
	c.digest = digest
	return true, nil
}

func newContext(name string, sources []Source, build func() (*tls.Config, []byte, error)) (*Context, error) {
	c := &Context{name: name, build: build}
	for _, s := range sources {
		if s.Path != "" {
			c.files = append(c.files, s.Path)
		}
	}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// material reads sources in order and returns their contents and the
// digest of all of them (what a reload compares).
func material(sources []Source) ([][]byte, []byte, error) {
	out := make([][]byte, len(sources))
	var digest []byte
	for i, s := range sources {
		b, err := s.read()
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, fmt.Errorf("cannot read %s: %w", s.describe(), err)
		}
		out[i] = b
		digest = append(digest, b...)
		digest = append(digest, 0)
	}
	return out, digest, nil
}

func keyPairSources(pairs []KeyPair) []Source {
	var out []Source
	for _, p := range pairs {
		out = append(out, p.Chain, p.Key)
	}
	return out
}

func loadKeyPair(chain, key []byte, p KeyPair) (tls.Certificate, error) {
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return cert, fmt.Errorf("%s and %s: %w", p.Chain.describe(), p.Key.describe(), err)
	}
	return cert, nil
}

func loadPool(pem []byte, s Source) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", s.describe())
	}
	return pool, nil
}

func (p *Params) apply(cfg *tls.Config) {
	cfg.MinVersion, cfg.MaxVersion = p.MinVersion, p.MaxVersion
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = tls.VersionTLS13
	}
	cfg.CipherSuites = p.CipherSuites
	cfg.CurvePreferences = p.Curves
	cfg.NextProtos = p.ALPN
}

// NewServer compiles a server context; name is its YAML path.
func NewServer(name string, o ServerOptions) (*Context, error) {
	if len(o.Certificates) == 0 {
		return nil, fmt.Errorf("%s: no certificate", name)
	}
	sources := keyPairSources(o.Certificates)
	if o.ClientCA != nil {
		sources = append(sources, *o.ClientCA)
	}
	build := func() (*tls.Config, []byte, error) {
		data, digest, err := material(sources)
		if err != nil {
			return nil, nil, err
		}
		cfg := &tls.Config{SessionTicketsDisabled: o.SessionTicketsDisabled}
		o.apply(cfg)
		for i, p := range o.Certificates {
			cert, err := loadKeyPair(data[2*i], data[2*i+1], p)
			if err != nil {
				return nil, nil, err
			}
			cfg.Certificates = append(cfg.Certificates, cert)
		}
		if o.ClientCA != nil {
			pool, err := loadPool(data[len(data)-1], *o.ClientCA)
			if err != nil {
				return nil, nil, err
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
			if o.RequireClientCert {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		return cfg, digest, nil
	}
	c, err := newContext(name, sources, build)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// NewClient compiles a client context; name is its YAML path.
func NewClient(name string, o ClientOptions) (*Context, error) {
	var sources []Source
	if o.Certificate != nil {
		sources = keyPairSources([]KeyPair{*o.Certificate})
	}
	if o.CA != nil {
		sources = append(sources, *o.CA)
	}
	build := func() (*tls.Config, []byte, error) {
		data, digest, err := material(sources)
		if err != nil {
			return nil, nil, err
		}
		cfg := &tls.Config{ServerName: o.SNI}
		o.apply(cfg)
		if o.Certificate != nil {
			cert, err := loadKeyPair(data[0], data[1], *o.Certificate)
			if err != nil {
				return nil, nil, err
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		if o.CA != nil {
			if cfg.RootCAs, err = loadPool(data[len(data)-1], *o.CA); err != nil {
				return nil, nil, err
			}
		}
		switch {
		case o.AcceptUntrusted:
			cfg.InsecureSkipVerify = true
		case o.SNI == "":
			// No name to check: verify the chain only (crypto/tls checks
			// the name as part of its own verification).
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = verifyChainOnly(cfg.RootCAs)
		}
		return cfg, digest, nil
	}
	c, err := newContext(name, sources, build)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// verifyChainOnly checks that the peer's chain leads to roots (nil: the
// system's), without a host name.
func verifyChainOnly(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
		}
		return nil
	}
}
