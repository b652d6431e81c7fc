// Package config loads sluice's YAML configuration.
//
// The file is read with viper and decoded by a small reflective walker (see
// decode.go) instead of viper.Unmarshal: viper lowercases every map key, which
// would corrupt the opaque module configs and the filter names used as keys
// in typed_per_filter_config. The walker also gives every unknown key and
// type error its YAML path. Validation then reports every remaining problem
// with its path, in file order, as one *Errors value.
package config
