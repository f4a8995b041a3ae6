package images

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/registry"
)

// Docker Hub's credentials are stored under its v1 index address, whatever
// name the image reference uses (the docker CLI's and compose's rule).
const dockerHubAuthKey = "https://index.docker.io/v1/"

// authConfigKey is the key the Docker CLI stores a registry's credentials
// under.
func authConfigKey(domain string) string {
	switch domain {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubAuthKey
	}
	return domain
}

// dockerConfig loads the Docker CLI's config.json the way the CLI does:
// from DOCKER_CONFIG, else ~/.docker (%USERPROFILE%\.docker on Windows).
// DOCKER_CONFIG is read on every call, not once per process as config.Dir
// does, so that every run honours the environment it is given.
func dockerConfig() (*configfile.ConfigFile, error) {
	dir := os.Getenv(config.EnvOverrideConfigDir)
	if dir == "" {
		dir = config.Dir()
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("read the Docker CLI config in %s: %w", dir, err)
	}
	return cfg, nil
}

// credentialSource names where the credentials for key come from, for
// error messages: a helper program or config.json itself.
func credentialSource(cfg *configfile.ConfigFile, key string) string {
	if h := cfg.CredentialHelpers[key]; h != "" {
		return "credHelpers helper docker-credential-" + h
	}
	if cfg.CredentialsStore != "" {
		return "credsStore helper docker-credential-" + cfg.CredentialsStore
	}
	return cfg.Filename
}

// registryAuth returns the X-Registry-Auth value for pulling from the
// registry domain, or "" when the user has no credentials for it. It uses
// the Docker CLI's own config and credential stores (plain auths,
// credsStore, credHelpers, DOCKER_AUTH_CONFIG), as docker compose does, so
// that Docker Desktop's keychain, pass, secretservice, ecr-login, gcloud
// and any other docker-credential-* helper work.
func registryAuth(domain string) (string, error) {
	cfg, err := dockerConfig()
	if err != nil {
		return "", err
	}
	key := authConfigKey(domain)
	ac, err := cfg.GetAuthConfig(key)
	if err != nil {
		return "", fmt.Errorf("credentials for registry %s from %s: %w", domain, credentialSource(cfg, key), err)
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" && ac.Auth == "" {
		return "", nil
	}
	if ac.ServerAddress == "" {
		ac.ServerAddress = key
	}
	return registry.EncodeAuthConfig(registry.AuthConfig(ac))
}

// buildAuthConfigs returns every credential the user has, for the classic
// builder, which pulls the base images a Dockerfile names (the docker CLI
// sends the same for a classic build). A helper that fails only costs the
// build its credentials: the failure is returned as a warning, as the docker
// CLI ignores it, so that a broken helper for another registry does not
// stop a build from public images.
func buildAuthConfigs() (map[string]registry.AuthConfig, error) {
	cfg, err := dockerConfig()
	if err != nil {
		return nil, err
	}
	all, err := cfg.GetAllCredentials()
	if err != nil {
		return nil, fmt.Errorf("read registry credentials for the build (from %s): %w", cfg.Filename, err)
	}
	out := make(map[string]registry.AuthConfig, len(all))
	for k, ac := range all {
		if ac.ServerAddress == "" {
			ac.ServerAddress = k
		}
		out[k] = registry.AuthConfig(ac)
	}
	return out, nil
}

// loginHint says where devorch looked for credentials when a registry
// refused a pull that had none, since the daemon's words ("no basic auth
// credentials") do not say that the credentials come from the client.
func loginHint(auth, domain, msg string) string {
	if auth != "" {
		return ""
	}
	low := strings.ToLower(msg)
	if !strings.Contains(low, "no basic auth credentials") && !strings.Contains(low, "authentication required") && !strings.Contains(low, "unauthorized") {
		return ""
	}
	where := "the Docker CLI's config"
	if cfg, err := dockerConfig(); err == nil {
		where = cfg.Filename
	}
	login := "docker login"
	if authConfigKey(domain) != dockerHubAuthKey {
		login += " " + domain
	}
	return fmt.Sprintf(" (no credentials for %s in %s: `%s` adds them)", domain, where, login)
}
