"""`nianbao bench`: the end-of-January burst at national scale, measured against its anchors."""
