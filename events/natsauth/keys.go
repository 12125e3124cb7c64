package natsauth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/ledgerdesk/ledgerdesk/events"
)

// Errors of loading and issuing credentials.
var (
	// ErrUnknownRole is returned for a role that is not in the table.
	ErrUnknownRole = errors.New("natsauth: unknown role")
	// ErrIncomplete is returned when a credentials directory holds some of the seeds but
	// not all: generating the missing ones would lock out every existing user.
	ErrIncomplete = errors.New("natsauth: credentials directory is incomplete")
	// ErrInsecure is returned when a credentials directory or file is readable by others.
	ErrInsecure = errors.New("natsauth: credentials readable by group or others")
	// ErrBadCreds is returned for a seed or creds file that is not what its name says.
	ErrBadCreds = errors.New("natsauth: bad credentials")
	// ErrStaleCreds is returned by CheckRoleCreds for creds whose rights are not the
	// role's for the log (issued for another partition count, or by another release).
	ErrStaleCreds = errors.New("natsauth: credentials issued for other rights")
)

// AccountName is the application account every ledgerdesk user belongs to. NB: never rename.
const AccountName = "LEDGERDESK"

// Seed files in a credentials directory. NB: persisted names; never rename.
const (
	OperatorSeedFile = "operator.nk"
	SystemSeedFile   = "system.nk"
	AccountSeedFile  = "account.nk"
)

// CredsFile is the name of a role's creds file in a credentials directory.
func CredsFile(role Role) string { return string(role) + ".creds" }

// Keys are the operator, the system account and the LEDGERDESK account (JetStream
// enabled, unlimited) with their JWTs — the trust — and one user's creds per role.
// Every role's rights but admin's depend on the ticket log's partition count, which is
// known only once the log's stream is (events.LogPartitions): the trust and admin's creds
// come first (LoadOrCreateTrust, LoadTrust), so that admin can provision the streams;
// IssueRoles then issues every role's creds for the log. Safe for concurrent use once
// its roles are issued.
type Keys struct {
	operator, system, account          nkeys.KeyPair
	operatorJWT, systemJWT, accountJWT string
	operatorPub, systemPub, accountPub string
	partitions                         int // the role creds', 0 before IssueRoles
	creds                              map[Role][]byte
}

// Generate makes new keys and one user per role for a ticket log of partitions
// partitions, in memory.
func Generate(partitions int) (*Keys, error) {
	k, err := generateTrust()
	if err != nil {
		return nil, err
	}
	return k, k.IssueRoles("", partitions)
}

// generateTrust makes new keys and admin's user, in memory.
func generateTrust() (*Keys, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, fmt.Errorf("create operator key: %w", err)
	}
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return nil, fmt.Errorf("create system account key: %w", err)
	}
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return nil, fmt.Errorf("create account key: %w", err)
	}
	k, err := newKeys(op, sys, acc)
	if err != nil {
		return nil, err
	}
	return k, k.loadRole("", RoleAdmin, 0)
}

// newKeys signs the operator and account JWTs. They are made anew from the seeds on every
// load, so a changed claim (say, a JetStream limit) takes effect on the next start.
func newKeys(op, sys, acc nkeys.KeyPair) (*Keys, error) {
	k := &Keys{operator: op, system: sys, account: acc, creds: map[Role][]byte{}}
	var err error
	if k.operatorPub, err = op.PublicKey(); err != nil {
		return nil, err
	}
	if k.systemPub, err = sys.PublicKey(); err != nil {
		return nil, err
	}
	if k.accountPub, err = acc.PublicKey(); err != nil {
		return nil, err
	}
	oc := jwt.NewOperatorClaims(k.operatorPub)
	oc.Name = "ledgerdesk"
	oc.SystemAccount = k.systemPub
	if k.operatorJWT, err = oc.Encode(op); err != nil {
		return nil, fmt.Errorf("sign operator JWT: %w", err)
	}
	sc := jwt.NewAccountClaims(k.systemPub)
	sc.Name = "SYS"
	if k.systemJWT, err = sc.Encode(op); err != nil {
		return nil, fmt.Errorf("sign system account JWT: %w", err)
	}
	ac := jwt.NewAccountClaims(k.accountPub)
	ac.Name = AccountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	if k.accountJWT, err = ac.Encode(op); err != nil {
		return nil, fmt.Errorf("sign account JWT: %w", err)
	}
	return k, nil
}

// IssueRole issues a new user of role for a ticket log of partitions partitions (see
// RolePermissions), signed by the account key; its JWT is tagged partitions:<n>.
func (k *Keys) IssueRole(role Role, partitions int) ([]byte, error) {
	p, err := RolePermissions(role, partitions)
	if err != nil {
		return nil, err
	}
	var tags []string
	if role != RoleAdmin {
		tags = append(tags, partitionsTag+strconv.Itoa(partitions))
	}
	return k.issue(string(role), p, tags)
}

// partitionsTag prefixes the user JWT tag that records the partition count a role's
// user was issued for. NB: persisted in creds files; never change.
const partitionsTag = "partitions:"

// IssueIntegration issues a new user for the integration name on tenants, with the
// rights of IntegrationPermissions; its JWT is named integration-<name>.
func (k *Keys) IssueIntegration(name string, tenants []string) ([]byte, error) {
	p, err := IntegrationPermissions(name, tenants)
	if err != nil {
		return nil, err
	}
	return k.issue("integration-"+name, p, nil)
}

// IssueUser issues a new user with perms, signed by the account key, and returns its
// creds file (the decorated format of `nsc` and the nats CLI). The running server accepts
// it at once: it trusts the account's signature, not a list of users.
func (k *Keys) IssueUser(name string, perms Permissions) ([]byte, error) {
	return k.issue(name, perms, nil)
}

func (k *Keys) issue(name string, perms Permissions, tags []string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("natsauth: issue user: empty name")
	}
	u, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create user key: %w", err)
	}
	pub, err := u.PublicKey()
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	uc.Pub.Allow.Add(perms.PublishAllow...)
	uc.Pub.Deny.Add(perms.PublishDeny...)
	uc.Sub.Allow.Add(perms.SubscribeAllow...)
	uc.Sub.Deny.Add(perms.SubscribeDeny...)
	uc.Tags.Add(tags...)
	token, err := uc.Encode(k.account)
	if err != nil {
		return nil, fmt.Errorf("sign user %s: %w", name, err)
	}
	seed, err := u.Seed()
	if err != nil {
		return nil, err
	}
	creds, err := jwt.FormatUserConfig(token, seed)
	if err != nil {
		return nil, fmt.Errorf("format creds of %s: %w", name, err)
	}
	return creds, nil
}

// Creds returns the creds file of role's user (the one in <role>.creds once written).
func (k *Keys) Creds(role Role) ([]byte, error) {
	c, ok := k.creds[role]
	switch {
	case !role.Valid():
		return nil, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	case !ok:
		return nil, fmt.Errorf("natsauth: no creds of role %s yet: they depend on the log's partition count (IssueRoles)", role)
	}
	return c, nil
}

// Partitions is the partition count of the log the role creds were issued for (0 before
// IssueRoles).
func (k *Keys) Partitions() int { return k.partitions }

// Connect returns the options a process of role connects with: its user's credentials
// and the role's inbox prefix (the only inbox the role may subscribe to).
func (k *Keys) Connect(role Role) ([]nats.Option, error) {
	c, err := k.Creds(role)
	if err != nil {
		return nil, err
	}
	return ConnectOptions(role, c)
}

// ConnectOptions returns the connect options for a creds file of role: the user JWT and
// seed, the role's inbox prefix, and the queue of synchronous subscriptions.
func ConnectOptions(role Role, creds []byte) ([]nats.Option, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %q", ErrUnknownRole, role)
	}
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCreds, err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(creds)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCreds, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.UserJWTAndSeed(token, string(seed)), nats.SyncQueueLen(syncQueueLen)}
	if p := InboxPrefix(role); p != "" {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	return opts, nil
}

// syncQueueLen is the channel length of each synchronous subscription (nats.SyncQueueLen):
// every batched direct get (jetstreamext) subscribes for its answers, at most 1,024
// messages and the end marker, and the default of 65,536 allocated 512 KiB per request,
// which made up a sixth of a busy process's heap.
const syncQueueLen = 2048

// InboxPrefix is the inbox prefix of role for nats.CustomInboxPrefix; "" means the
// default (auditor, admin) or an unknown role.
func InboxPrefix(role Role) string { return table[role].inbox }

// LoadOrCreate loads the keys from dir, or generates them there when dir holds none
// (LoadOrCreateTrust), and every role's creds for a ticket log of partitions partitions
// (IssueRoles).
func LoadOrCreate(dir string, partitions int) (*Keys, error) {
	k, err := LoadOrCreateTrust(dir)
	if err != nil {
		return nil, err
	}
	if err := k.IssueRoles(dir, partitions); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadOrCreateTrust loads the trust and admin's creds from dir, or generates them there
// when dir holds none (dir 0700, files 0600); the other roles' creds wait for IssueRoles.
// It refuses what LoadTrust refuses.
func LoadOrCreateTrust(dir string) (*Keys, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		return create(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	return LoadTrust(dir)
}

// LoadTrust loads the trust and admin's creds from dir, but never generates new seeds: a
// missing or empty dir is ErrIncomplete (new keys there would make users no server
// trusts). It refuses a directory with only some of the seeds (ErrIncomplete), files or a
// directory others may read (ErrInsecure), and creds not signed by the account
// (ErrBadCreds). A missing admin.creds, or one whose rights are not the table's, gets a
// new user.
func LoadTrust(dir string) (*Keys, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil, fmt.Errorf("%w: %s holds no keys; give the directory ledgerdesk nats init wrote (or <data>/credentials of ledgerdesk run)",
			ErrIncomplete, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	seeds := []string{OperatorSeedFile, SystemSeedFile, AccountSeedFile}
	var present []string
	for _, f := range seeds {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			present = append(present, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load credentials: %w", err)
		}
	}
	if len(present) < len(seeds) {
		return nil, fmt.Errorf("%w: %s is not empty but has only [%s] of %s; restore the missing seeds from a backup "+
			"(new ones would lock out every user), or give an empty or new directory",
			ErrIncomplete, dir, strings.Join(present, ", "), strings.Join(seeds, ", "))
	}
	kps := make([]nkeys.KeyPair, len(seeds))
	prefixes := []nkeys.PrefixByte{nkeys.PrefixByteOperator, nkeys.PrefixByteAccount, nkeys.PrefixByteAccount}
	for i, f := range seeds {
		kp, err := readSeed(filepath.Join(dir, f), prefixes[i])
		if err != nil {
			return nil, err
		}
		kps[i] = kp
	}
	k, err := newKeys(kps[0], kps[1], kps[2])
	if err != nil {
		return nil, err
	}
	return k, k.loadRole(dir, RoleAdmin, 0)
}

// IssueRoles loads every role's creds file from dir for a ticket log of partitions
// partitions (the stream's: events.LogPartitions), issuing a new user for a role whose
// file is missing or whose user's rights are not the table's for that log (issued for
// another partition count, or by a release whose table differed), and writing it (0600);
// dir "" issues them in memory. It refuses creds not signed by the account (ErrBadCreds).
// Call it before the keys are shared.
func (k *Keys) IssueRoles(dir string, partitions int) error {
	if partitions < 1 || partitions > events.MaxPartitions {
		return fmt.Errorf("natsauth: issue role creds for %d partitions: the log has 1 to %d", partitions, events.MaxPartitions)
	}
	for _, r := range Roles() {
		if err := k.loadRole(dir, r, partitions); err != nil {
			return err
		}
	}
	k.partitions = partitions
	return nil
}

// loadRole loads role's creds file from dir, or issues a new user when it is missing or
// stale (see IssueRoles) and writes it; dir "" issues it in memory.
func (k *Keys) loadRole(dir string, role Role, partitions int) error {
	if dir == "" {
		c, err := k.IssueRole(role, partitions)
		k.creds[role] = c
		return err
	}
	path := filepath.Join(dir, CredsFile(role))
	c, err := readPrivate(path)
	stale := errors.Is(err, fs.ErrNotExist)
	if err == nil {
		stale, err = k.checkCreds(path, role, c, partitions)
	} else if stale {
		err = nil
	}
	if err == nil && stale {
		if c, err = k.IssueRole(role, partitions); err == nil {
			err = writePrivate(path, c)
		}
	}
	if err != nil {
		return err
	}
	k.creds[role] = c
	return nil
}

// create generates the trust and admin's user into a new directory beside dir and
// renames it to dir (absent or empty), so that a crash never leaves dir with some of the
// seeds.
func create(dir string) (*Keys, error) {
	k, err := generateTrust()
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return nil, fmt.Errorf("create credentials dir: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("create credentials dir: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if err := k.Write(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil { // rename(2) replaces an empty directory
		return nil, fmt.Errorf("create credentials dir: %w", err)
	}
	return k, syncDir(parent)
}

// checkCreds checks that creds hold a user signed by the account, and reports whether
// its rights differ from the table's row of role for a log of partitions partitions.
func (k *Keys) checkCreds(path string, role Role, creds []byte, partitions int) (stale bool, err error) {
	uc, err := userClaims(creds)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if uc.Issuer != k.accountPub {
		return false, fmt.Errorf("%w: %s: signed by %s, not the %s account %s", ErrBadCreds, path, uc.Issuer, AccountName, k.accountPub)
	}
	if _, err := jwt.ParseDecoratedUserNKey(creds); err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrBadCreds, path, err)
	}
	same, err := sameRights(uc, role, partitions)
	return !same, err
}

// CheckRoleCreds checks that a creds file holds a user with exactly role's rights for a
// ticket log of partitions partitions (the stream's, events.Store.Partitions); else
// ErrStaleCreds, naming the partition count the user was issued for.
func CheckRoleCreds(role Role, creds []byte, partitions int) error {
	uc, err := userClaims(creds)
	if err != nil {
		return err
	}
	same, err := sameRights(uc, role, partitions)
	if err != nil || same {
		return err
	}
	issued := "an unknown partition count"
	for _, t := range uc.Tags {
		if n, ok := strings.CutPrefix(t, partitionsTag); ok {
			issued = n + " partitions"
		}
	}
	return fmt.Errorf("%w: user %q does not hold the rights of role %s on a log of %d partitions (it was issued for %s, or by another release)",
		ErrStaleCreds, uc.Name, role, partitions, issued)
}

// userClaims decodes the user JWT of a creds file.
func userClaims(creds []byte) (*jwt.UserClaims, error) {
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCreds, err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCreds, err)
	}
	return uc, nil
}

// sameRights reports whether a user's rights are role's for a log of partitions partitions.
func sameRights(uc *jwt.UserClaims, role Role, partitions int) (bool, error) {
	p, err := RolePermissions(role, partitions)
	if err != nil {
		return false, err
	}
	same := func(got jwt.StringList, want []string) bool {
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		return slices.Equal(g, w)
	}
	return same(uc.Pub.Allow, p.PublishAllow) && same(uc.Pub.Deny, p.PublishDeny) &&
		same(uc.Sub.Allow, p.SubscribeAllow) && same(uc.Sub.Deny, p.SubscribeDeny), nil
}

// Write stores the seeds, every role's creds file and the server config snippet
// (ServerConfigFile) in dir (0700), each file 0600; it overwrites what is there.
func (k *Keys) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create credentials dir: %w", err)
	}
	if err := checkPrivate(dir); err != nil {
		return err
	}
	files := map[string][]byte{ServerConfigFile: []byte(k.ServerConfig())}
	for name, kp := range map[string]nkeys.KeyPair{OperatorSeedFile: k.operator, SystemSeedFile: k.system, AccountSeedFile: k.account} {
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		files[name] = append(seed, '\n')
	}
	for r, c := range k.creds {
		files[CredsFile(r)] = c
	}
	for name, b := range files {
		if err := writePrivate(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

func readSeed(path string, want nkeys.PrefixByte) (nkeys.KeyPair, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	seed := []byte(strings.TrimSpace(string(b)))
	prefix, _, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadCreds, path, err)
	}
	if prefix != want {
		return nil, fmt.Errorf("%w: %s: holds a %s seed, want %s", ErrBadCreds, path, prefix, want)
	}
	return nkeys.FromSeed(seed)
}

// checkPrivate refuses a file or directory with any group or other permission bit.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("load credentials: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %s; chmod go-rwx it", ErrInsecure, path, fi.Mode().Perm())
	}
	return nil
}

func readPrivate(path string) ([]byte, error) {
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// WritePrivate replaces path with b, mode 0600 whatever the old file's mode, atomically:
// a crash leaves the old file or the new one.
func WritePrivate(path string, b []byte) error { return writePrivate(path, b) }

func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // gone after the rename
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CredsUser returns the name of the user in a creds file (a role's name for the creds
// LoadOrCreate writes).
func CredsUser(creds []byte) (string, error) {
	uc, err := userClaims(creds)
	if err != nil {
		return "", err
	}
	return uc.Name, nil
}
