package devicelist

import "context"

// Listed adapts a device list to the consumers that want only the ids of an
// account's devices, as List lists them: the processor's DeviceList, which
// stores a message to a whole account for its listed devices that are not
// connected.
type Listed struct {
	Store interface {
		List(ctx context.Context, account string) ([]Device, error)
	}
}

// Listed returns the ids of account's devices, sorted; an empty slice (not
// nil) when none.
func (l Listed) Listed(ctx context.Context, account string) ([]string, error) {
	devs, err := l.Store.List(ctx, account)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(devs))
	for i, dev := range devs {
		ids[i] = dev.ID
	}
	return ids, nil
}
