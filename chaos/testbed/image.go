package testbed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/testcontainers/testcontainers-go"
)

// ImageRepo is the repository of the testbed's images; the tag is the
// binary's sha256 prefix.
const ImageRepo = "golive-testbed"

// dockerfile wraps the binary alone: no base image, so nothing is pulled.
const dockerfile = `FROM scratch
COPY golive /golive
ENTRYPOINT ["/golive"]
`

// ImageTag is the image reference for a binary with the given sha256.
func ImageTag(digest string) string { return ImageRepo + ":" + digest[:16] }

// EnsureImage returns the tag of a FROM scratch image around the static
// golive binary, building it only when no image for this exact binary
// exists yet (a warm cache starts the topology without a build).
func EnsureImage(ctx context.Context, binary string, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckStatic(binary); err != nil {
		return "", err
	}
	digest, err := fileDigest(binary)
	if err != nil {
		return "", err
	}
	tag := ImageTag(digest)
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	dir, found, err := imageOrContext(ctx, cli, tag, "golive-image-")
	if err != nil {
		return "", err
	}
	if found {
		return tag, nil
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", fmt.Errorf("testbed: image build context: %w", err)
	}
	if err := linkOrCopy(binary, filepath.Join(dir, "golive")); err != nil {
		return "", fmt.Errorf("testbed: image build context: %w", err)
	}
	log.Info("testbed: building image", "tag", tag, "binary", binary)
	prov, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{log}))
	if err != nil {
		return "", fmt.Errorf("testbed: docker provider: %w", err)
	}
	defer prov.Close()
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: dir, Repo: ImageRepo, Tag: digest[:16], KeepImage: true,
		BuildOptionsModifier: func(o *build.ImageBuildOptions) {
			o.Labels = map[string]string{LabelTestbed: "1", "dev.golive.binary.sha256": digest}
		},
	}}
	got, err := prov.BuildImage(ctx, req)
	if err != nil {
		return "", fmt.Errorf("testbed: building image %s: %w", tag, err)
	}
	return got, nil
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// imageOrContext says whether tag is built already (the content hash in
// its name makes it current); if not, it makes an empty build context
// directory for the caller to fill and remove.
func imageOrContext(ctx context.Context, cli *client.Client, tag, prefix string) (dir string, found bool, err error) {
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return "", true, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("testbed: looking for image %s: %w", tag, err)
	}
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", false, fmt.Errorf("testbed: image build context: %w", err)
	}
	return dir, false, nil
}
