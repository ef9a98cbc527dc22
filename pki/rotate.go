package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/plan"
)

// A CA rotation replaces a CA without a moment where some component trusts only the
// old CA while another already presents certificates of the new one. It has three
// steps, each followed by re-rendering and rolling out the affected nodes:
//
//  1. StartCARotation makes the incoming CA in pki/next/. It signs nothing yet, but every
//     trust bundle (Pair.CertPEM of the CA, kubeconfigs) now holds both CAs.
//  2. PromoteCA makes the incoming CA the signing CA. The outgoing CA's certificate and
//     key are archived in pki/retired/ and its certificate stays trusted from
//     pki/previous/; the next Ensure reissues every leaf it signed.
//  3. FinishCARotation stops trusting the outgoing CA (its archive stays in retired/).
//
// AbortCARotation drops an incoming CA that was not promoted yet (archived too). No step
// ever deletes a CA key. Every step is safe to run again after an interruption.

// RotationStep names where a CA's rotation stands.
type RotationStep string

const (
	// RotationNone: no rotation under way.
	RotationNone RotationStep = "none"
	// RotationStarted: the incoming CA is trusted but does not sign yet.
	RotationStarted RotationStep = "started"
	// RotationPromoted: the incoming CA signs; the outgoing one is still trusted.
	RotationPromoted RotationStep = "promoted"
)

// RotatableCAs are the CAs CA rotation applies to.
var RotatableCAs = []string{CA, EtcdCA, FrontProxyCA}

func checkRotatable(name string) error {
	for _, n := range RotatableCAs {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("%w: %q is not a CA: use one of %v", ErrUnknownName, name, RotatableCAs)
}

// CARotationStatus says where the rotation of CA name stands in stateDir.
func CARotationStatus(stateDir, name string) (RotationStep, error) {
	if err := checkRotatable(name); err != nil {
		return "", err
	}
	pkiPath := filepath.Join(stateDir, pkiDir)
	switch {
	case exists(certFile(filepath.Join(pkiPath, nextDir), name)):
		return RotationStarted, nil
	case exists(certFile(filepath.Join(pkiPath, previousDir), name)):
		return RotationPromoted, nil
	}
	return RotationNone, nil
}

// StartCARotation makes the incoming CA for name (CN, location, key algorithm and
// validity from the plan) in pki/next/. Run Ensure afterwards to refresh the kubeconfigs.
func StartCARotation(p *plan.Plan, stateDir, name string, opts Options) (*Change, error) {
	if err := checkRotatable(name); err != nil {
		return nil, err
	}
	unlock, err := lockRotation(stateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := CheckCluster(stateDir, p); err != nil {
		return nil, err
	}
	pkiPath := filepath.Join(stateDir, pkiDir)
	if !exists(certFile(pkiPath, name)) || !exists(keyFile(pkiPath, name)) {
		return nil, fmt.Errorf("%w: %s has no CA %s yet: run `kisgen certs issue` first", ErrRotation, stateDir, name)
	}
	step, err := CARotationStatus(stateDir, name)
	if err != nil {
		return nil, err
	}
	nextPath := filepath.Join(pkiPath, nextDir)
	switch {
	case step == RotationPromoted:
		return nil, fmt.Errorf("%w: the previous rotation of %s is not finished: run `kisgen certs rotate --ca=%s --finish` first", ErrRotation, name, name)
	case step == RotationStarted && exists(keyFile(nextPath, name)):
		return nil, fmt.Errorf("%w: %s already has an incoming CA in %s: promote it (`--promote`) or drop it (`--abort`)", ErrRotation, name, nextPath)
	case step == RotationStarted:
		return nil, fmt.Errorf("%w: %s holds %s without its key: if a promotion was interrupted, run `kisgen certs rotate --ca=%s --promote` again", ErrRotation, nextPath, name+certSuffix, name)
	}
	if exists(keyFile(nextPath, name)) {
		return nil, fmt.Errorf("%w: %s holds a key without its certificate (an interrupted start?): move it to %s and start again",
			ErrRotation, keyFile(nextPath, name), filepath.Join(pkiPath, retiredDir))
	}
	var s *spec
	for _, c := range caSpecs(p) {
		if c.name == name {
			s = c
		}
	}
	if err := os.MkdirAll(nextPath, dirPerm); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := newCA(p, s, nil, opts.now())
	if err != nil {
		return nil, err
	}
	if err := atomicfile.CreateExclusive(keyFile(nextPath, name), keyPEM, keyPerm); err != nil {
		return nil, err
	}
	if err := atomicfile.CreateExclusive(certFile(nextPath, name), certPEM, publicPerm); err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	ch := &Change{Name: nextDir + "/" + name, Action: ActionCreated, Reason: fmt.Sprintf("incoming CA (CN %s, valid until %s), trusted beside the current one", s.cn, day(cert.NotAfter))}
	logChange(opts, *ch)
	return ch, nil
}

// PromoteCA makes the incoming CA of name the signing CA: the outgoing certificate and
// key are archived in pki/retired/, the outgoing certificate stays trusted from
// pki/previous/, and the incoming files move into place. Run Ensure afterwards: it
// reissues every leaf the outgoing CA signed.
func PromoteCA(stateDir, name string, opts Options) error {
	if err := checkRotatable(name); err != nil {
		return err
	}
	unlock, err := lockRotation(stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	pkiPath := filepath.Join(stateDir, pkiDir)
	nextPath, prevPath, retPath := filepath.Join(pkiPath, nextDir), filepath.Join(pkiPath, previousDir), filepath.Join(pkiPath, retiredDir)
	nextCertPath, nextKeyPath := certFile(nextPath, name), keyFile(nextPath, name)
	if !exists(nextCertPath) {
		return fmt.Errorf("%w: no incoming %s in %s: start a rotation first (`kisgen certs rotate --ca=%s`)", ErrRotation, name, nextPath, name)
	}
	nextCert, err := readCert(nextCertPath)
	if err != nil {
		return err
	}
	curCertPath, curKeyPath := certFile(pkiPath, name), keyFile(pkiPath, name)
	curCert, err := readCert(curCertPath)
	if err != nil {
		return err
	}
	curKeyPEM, err := os.ReadFile(curKeyPath)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRotation, curKeyPath, err)
	}
	curKey, err := parseKeyPEM(curKeyPEM)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, curKeyPath, err)
	}
	switch {
	case keyMatches(curKey, nextCert.PublicKey):
		// Interrupted after the key moved: only the certificate is left to move.
		if exists(nextKeyPath) {
			return fmt.Errorf("%w: %s and %s both hold the incoming key: check the directory by hand", ErrRotation, curKeyPath, nextKeyPath)
		}
	case keyMatches(curKey, curCert.PublicKey):
		nextKeyPEM, err := os.ReadFile(nextKeyPath)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrRotation, nextKeyPath, err)
		}
		nextKey, err := parseKeyPEM(nextKeyPEM)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, nextKeyPath, err)
		}
		if !keyMatches(nextKey, nextCert.PublicKey) {
			return fmt.Errorf("%w: %s is not the key of %s", ErrKeyMismatch, nextKeyPath, nextCertPath)
		}
		if prev := certFile(prevPath, name); exists(prev) {
			prevCert, err := readCert(prev)
			if err != nil {
				return err
			}
			if !bytes.Equal(prevCert.Raw, curCert.Raw) {
				return fmt.Errorf("%w: the previous rotation of %s is not finished (%s): finish it first", ErrRotation, name, prev)
			}
		}
		// 1. Archive the outgoing CA, key included, before anything replaces it.
		tag := fingerprint(curCert.Raw)
		if err := os.MkdirAll(retPath, dirPerm); err != nil {
			return err
		}
		if err := keep(filepath.Join(retPath, name+"-"+tag+certSuffix), encodeCert(curCert)); err != nil {
			return err
		}
		if err := keep(filepath.Join(retPath, name+"-"+tag+keySuffix), curKeyPEM); err != nil {
			return err
		}
		// 2. Keep trusting it until the rotation is finished.
		if err := os.MkdirAll(prevPath, dirPerm); err != nil {
			return err
		}
		if err := keep(certFile(prevPath, name), encodeCert(curCert)); err != nil {
			return err
		}
		// 3. Move the incoming key into place (the outgoing key is archived above).
		if err := os.Rename(nextKeyPath, curKeyPath); err != nil {
			return fmt.Errorf("%w: %v", ErrRotation, err)
		}
	default:
		return fmt.Errorf("%w: %s is neither the key of %s nor of %s: check the directory by hand", ErrKeyMismatch, curKeyPath, curCertPath, nextCertPath)
	}
	// 4. Move the incoming certificate into place.
	if err := os.Rename(nextCertPath, curCertPath); err != nil {
		return fmt.Errorf("%w: %v", ErrRotation, err)
	}
	if err := syncAll(stateDir, []string{curKeyPath, curCertPath}); err != nil {
		return err
	}
	logChange(opts, Change{Name: name, Action: ActionReissued, Reason: fmt.Sprintf("promoted the incoming CA (the outgoing one is archived in %s and still trusted until --finish)", retPath)})
	return nil
}

// FinishCARotation stops trusting the outgoing CA of name. Its certificate and key stay
// archived in pki/retired/. Run Ensure afterwards to refresh the kubeconfigs.
func FinishCARotation(stateDir, name string, opts Options) error {
	if err := checkRotatable(name); err != nil {
		return err
	}
	unlock, err := lockRotation(stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	pkiPath := filepath.Join(stateDir, pkiDir)
	prev := certFile(filepath.Join(pkiPath, previousDir), name)
	if !exists(prev) {
		return fmt.Errorf("%w: no promoted rotation of %s to finish (%s does not exist)", ErrRotation, name, prev)
	}
	if exists(certFile(filepath.Join(pkiPath, nextDir), name)) {
		return fmt.Errorf("%w: %s still has an incoming CA in %s: promote or abort it first", ErrRotation, name, filepath.Join(pkiPath, nextDir))
	}
	cert, err := readCert(prev)
	if err != nil {
		return err
	}
	archived := filepath.Join(pkiPath, retiredDir, name+"-"+fingerprint(cert.Raw)+certSuffix)
	if !exists(archived) {
		if err := keep(archived, encodeCert(cert)); err != nil {
			return err
		}
	}
	if err := os.Remove(prev); err != nil {
		return err
	}
	if err := syncAll(stateDir, []string{filepath.Dir(prev)}); err != nil {
		return err
	}
	logChange(opts, Change{Name: previousDir + "/" + name, Action: ActionReissued, Reason: "the outgoing CA is no longer trusted (archived in " + filepath.Join(pkiPath, retiredDir) + ")"})
	return nil
}

// AbortCARotation drops an incoming CA that was not promoted: its files move to
// pki/retired/. Run Ensure afterwards to refresh the kubeconfigs.
func AbortCARotation(stateDir, name string, opts Options) error {
	if err := checkRotatable(name); err != nil {
		return err
	}
	unlock, err := lockRotation(stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	pkiPath := filepath.Join(stateDir, pkiDir)
	nextPath, retPath := filepath.Join(pkiPath, nextDir), filepath.Join(pkiPath, retiredDir)
	if !exists(certFile(nextPath, name)) {
		return fmt.Errorf("%w: no incoming %s to abort", ErrRotation, name)
	}
	if !exists(keyFile(nextPath, name)) {
		return fmt.Errorf("%w: the incoming %s was already partly promoted: run `kisgen certs rotate --ca=%s --promote` to complete it", ErrRotation, name, name)
	}
	cert, err := readCert(certFile(nextPath, name))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(retPath, dirPerm); err != nil {
		return err
	}
	tag := "aborted-" + fingerprint(cert.Raw)
	if err := os.Rename(keyFile(nextPath, name), filepath.Join(retPath, name+"-"+tag+keySuffix)); err != nil {
		return err
	}
	if err := os.Rename(certFile(nextPath, name), filepath.Join(retPath, name+"-"+tag+certSuffix)); err != nil {
		return err
	}
	if err := syncAll(stateDir, nil); err != nil {
		return err
	}
	logChange(opts, Change{Name: nextDir + "/" + name, Action: ActionReissued, Reason: "incoming CA dropped (archived in " + retPath + ")"})
	return nil
}

// RotationAdvice says what must be re-rendered and replaced after a rotation step.
func RotationAdvice(name string, step RotationStep) string {
	who := map[string]string{
		CA:           "every node (API servers, kubelets, kube-proxy and Calico trust it; the controller-manager publishes it to pods as the kube-root-ca.crt ConfigMap)",
		EtcdCA:       "the etcd nodes and the masters (etcd peers and servers, and the API servers' etcd client)",
		FrontProxyCA: "the masters (the API servers' --requestheader-client-ca-file and front-proxy client)",
	}[name]
	switch step {
	case RotationStarted:
		return fmt.Sprintf(`The incoming %[1]s is now trusted beside the current one; it signs nothing yet.
Next: re-render (kisgen render) and roll the new user-data out to %[2]s,
one node at a time, and replace copies of the kubeconfigs in kubeconfig/ you handed out.
When every node trusts both CAs, run: kisgen certs rotate --ca=%[1]s --promote`, name, who)
	case RotationPromoted:
		return fmt.Sprintf(`The incoming %[1]s now signs, and every certificate it signs was reissued; the
outgoing CA is still trusted and archived in pki/retired/ (key included).
Next: re-render and roll out %[2]s again, so that every
component presents a certificate of the new CA, and replace handed-out kubeconfigs.
Then run: kisgen certs rotate --ca=%[1]s --finish`, name, who)
	}
	return fmt.Sprintf(`The outgoing %[1]s is no longer trusted (kept in pki/retired/).
Next: re-render and roll out %[2]s a last time;
anything still presenting a certificate of the old CA is rejected from then on.`, name, who)
}

// lockRotation locks the state directory for a rotation step, which needs a PKI.
func lockRotation(stateDir string) (func(), error) {
	if st, err := os.Stat(filepath.Join(stateDir, pkiDir)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s holds no PKI yet: run `kisgen certs issue` first", ErrRotation, stateDir)
	}
	return lockState(stateDir)
}

func logChange(opts Options, c Change) {
	if opts.Log != nil {
		fmt.Fprintln(opts.Log, c.String())
	}
}

// keep writes data to path unless path already holds exactly data (a resumed step); a
// different content there is an error, never overwritten.
func keep(path string, data []byte) error {
	err := atomicfile.CreateExclusive(path, data, keyPerm)
	if errors.Is(err, atomicfile.ErrExists) {
		old, rerr := os.ReadFile(path)
		if rerr == nil && bytes.Equal(old, data) {
			return nil
		}
		return fmt.Errorf("%w: %s exists with other content: check the directory by hand", ErrRotation, path)
	}
	return err
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRotation, err)
	}
	c, err := parseCertPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return c, nil
}

func fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:6])
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
