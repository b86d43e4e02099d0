package interop

func init() { underWine = onWine }
