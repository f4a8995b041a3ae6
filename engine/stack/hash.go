package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/docker/docker/api/types/swarm"
)

// SpecHash is a stable digest of spec, for the deployer to keep in a label
// and compare with the next conversion: Docker normalises a spec it stores
// (defaults filled, fields reordered), so comparing against what it
// returns would see changes that are not there. encoding/json writes
// struct fields in declaration order and map keys sorted, and the
// conversion orders every list, so equal specs hash equal. Hash the spec
// before adding the label that holds the hash.
func SpecHash(spec swarm.ServiceSpec) string {
	b, err := json.Marshal(spec)
	if err != nil {
		// Only a NaN or infinite float fails, which the conversion refuses;
		// should one come anyway, a digest of the pointers' addresses never
		// matches a stored one, and "changed" is the safe answer.
		b = fmt.Appendf(nil, "%#v", spec)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
