// Package config loads sluice's YAML configuration.
//
// The file is read with viper and decoded by a small reflective walker (see
// decode.go) instead of viper.Unmarshal: viper lowercases every map key, which
// would corrupt the opaque module configs and the filter names used as keys
// in typed_per_filter_config. The walker gives every unknown key and type
// error its YAML path; validation then reports every remaining problem with
// its path. All problems come back together as one *Errors, sorted by their
// line in the file (see locate.go).
package config
