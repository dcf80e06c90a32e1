package integrations

// DefaultJobCmd is the command of an integration's job that names none: it
// checks out the commit and hands the build to the repository, to an executable
// .aura/ci if it has one, or else to the jobs of its .aura/jobs.yaml, which
// `aura-runner submit --file` submits as the job's children. It stays a plain
// shell script whose steps the job's log shows as it runs them (set -x).
const DefaultJobCmd = `# Aura's default job: check out the commit, then run .aura/ci or submit .aura/jobs.yaml.
set -eux
git clone --quiet --no-checkout "$AURA_GIT_URL" src
cd src
git checkout --quiet --detach "$AURA_GIT_SHA" ||
  { git fetch --quiet origin "$AURA_GIT_REF" && git checkout --quiet --detach "$AURA_GIT_SHA"; }
if [ -x .aura/ci ]; then
  exec .aura/ci
elif [ -f .aura/ci ]; then
  exec sh .aura/ci
elif [ -f .aura/jobs.yaml ]; then
  exec aura-runner submit --file .aura/jobs.yaml
fi
set +x
echo "This commit has neither .aura/ci nor .aura/jobs.yaml: nothing to build." >&2
exit 1
`

// DefaultJobName and DefaultJobTag name the job an integration created without
// jobs submits (with DefaultJobCmd).
const (
	DefaultJobName = "ci"
	DefaultJobTag  = "native,linux"
)
