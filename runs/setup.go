package runs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/drctl/drctl/workflows"
)

// EnsureSearchAttributes gives the namespace drctl's search attributes
// (workflows.SearchAttributeNames), which every run is started with,
// where it has not got them. Where the caller may not add them (a managed
// cluster), the error says which are missing and the command that adds
// them.
func (c *Client) EnsureSearchAttributes(ctx context.Context) error {
	return EnsureSearchAttributes(ctx, c.Client, c.Namespace, workflows.SearchAttributeNames)
}

// EnsureSearchAttributes adds those of names (Keyword attributes) that
// namespace lacks.
func EnsureSearchAttributes(ctx context.Context, cl client.Client, namespace string, names []string) error {
	have, err := cl.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing the search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range names {
		if _, ok := have.CustomAttributes[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = cl.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var denied *serviceerror.PermissionDenied
	if errors.As(err, &denied) {
		var cmd strings.Builder
		fmt.Fprintf(&cmd, "temporal operator search-attribute create --namespace %s", namespace)
		for _, name := range slices.Sorted(maps.Keys(missing)) {
			fmt.Fprintf(&cmd, " --name %s --type Keyword", name)
		}
		return fmt.Errorf("namespace %s lacks drctl's search attributes and this identity may not add them (%v); someone who may: %s", namespace, err, cmd.String())
	}
	if err != nil {
		return fmt.Errorf("adding drctl's search attributes to namespace %s: %w", namespace, err)
	}
	return nil
}
