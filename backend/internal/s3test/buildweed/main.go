// Command buildweed builds the SeaweedFS weed binary the S3 tests run against
// into its cache folder (outside the repository) and prints its path.
// scripts/setup runs it, so the timed test run does not build weed itself.
package main

import (
	"fmt"
	"os"

	"github.com/aura-ci/aura/backend/internal/s3test"
)

func main() {
	bin, err := s3test.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildweed:", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
