# lavaan nonparametric bootstrap reference for tests/model/bootstrap (CI has no R: commit the JSON).
# Regenerate from the repo root:  Rscript tests/model/bootstrap/make_reference.R
# (or in parallel: Rscript tests/model/bootstrap/make_reference.R csi_multi & ..., then with no
# argument, or with "merge" to write reference.json from the parts computed so far)
# Per data set: sem() as in tests/model/lavaan/make_reference.R, then bootstrapLavaan(fit, R = B,
# type = "ordinary") collecting the unstandardized paths and loadings (coef) and their std.all
# values (lavInspect(x, "std")); draws that fail to converge are left out by lavaan. From the
# draws: bootstrap SE = sd() (N - 1) and percentile 95% interval = quantile(type = 7) at .025/.975.
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })

data_dir <- "tests/model/data"
out_file <- "tests/model/bootstrap/reference.json"
B <- as.integer(Sys.getenv("BOOT_R", "1000"))  # draws per data set (env BOOT_R)
codes <- c("CE", "PQ", "PV", "CS", "CC", "CL")
paths <- list(c("CE", "PQ"), c("CE", "PV"), c("PQ", "PV"), c("CE", "CS"), c("PQ", "CS"),
              c("PV", "CS"), c("CS", "CC"), c("CS", "CL"), c("CC", "CL"))
structural <- c("PQ ~ CE", "PV ~ CE + PQ", "CS ~ CE + PQ + PV", "CC ~ CS", "CL ~ CS + CC")

prefix_spec <- function(cols) {
  spec <- lapply(codes, function(code) cols[grepl(paste0("^", code, "[0-9]+$"), cols)])
  names(spec) <- codes
  spec
}

model_syntax <- function(spec) {
  meas <- vapply(codes, function(code) {
    items <- spec[[code]]
    if (length(items) == 1) paste0(code, " =~ 1*", items, "\n", items, " ~~ 0*", items)
    else paste0(code, " =~ ", paste(items, collapse = " + "))
  }, "")
  paste(c(meas, structural), collapse = "\n")
}

reference <- function(file, spec, missing, seed) {
  raw <- read.csv(file.path(data_dir, file), check.names = FALSE)
  items <- unlist(spec, use.names = FALSE)
  raw <- raw[, items]
  fit <- if (missing == "ml") {
    sem(model_syntax(spec), data = raw, estimator = "ML", missing = "ml", fixed.x = FALSE)
  } else {
    sem(model_syntax(spec), data = raw, estimator = "ML")
  }
  names_out <- c(vapply(paths, function(p) paste0(p[2], "~", p[1]), ""),
                 unlist(lapply(codes, function(c) paste0(c, "=~", spec[[c]]))))
  stat <- function(x) {
    # std.all from the estimates: beta * sd(from) / sd(to), lambda * sd(latent) / sd(item), with
    # the model-implied latent and item variances (what lavInspect(x, "std") returns, cheaper)
    est <- lavInspect(x, "est")
    sd_eta <- sqrt(diag(lavInspect(x, "cov.lv")))
    sd_x <- sqrt(diag(lavInspect(x, "implied")$cov))
    std <- list(beta = est$beta * outer(1 / sd_eta[rownames(est$beta)], sd_eta[colnames(est$beta)]),
                lambda = est$lambda * outer(1 / sd_x[rownames(est$lambda)], sd_eta[colnames(est$lambda)]))
    pick <- function(m) c(vapply(paths, function(p) m$beta[p[2], p[1]], 0),
                          unlist(lapply(codes, function(c) m$lambda[spec[[c]], c])))
    c(pick(est), pick(std))
  }
  set.seed(seed)
  draws <- bootstrapLavaan(fit, R = B, type = "ordinary", FUN = stat)
  failed <- length(attr(draws, "error.idx"))
  draws <- draws[complete.cases(draws), , drop = FALSE]
  k <- length(names_out)
  summ <- function(cols) {
    out <- lapply(seq_along(names_out), function(i) {
      x <- draws[, cols[i]]
      list(se = sd(x), ci = unname(quantile(x, c(0.025, 0.975), type = 7)), mean = mean(x))
    })
    names(out) <- names_out
    out
  }
  point <- stat(fit)
  list(file = file, missing = missing, items = lapply(spec, I), nobs = lavInspect(fit, "nobs"),
       draws = B, failed = failed, used = nrow(draws), seed = seed,
       estimate = as.list(setNames(point[1:k], names_out)),
       std_estimate = as.list(setNames(point[(k + 1):(2 * k)], names_out)),
       unstandardized = summ(1:k), standardized = summ((k + 1):(2 * k)))
}

std_spec <- prefix_spec(names(read.csv(file.path(data_dir, "csi_multi.csv"))))
single_spec <- prefix_spec(names(read.csv(file.path(data_dir, "csi_single_cc.csv"))))
custom_spec <- fromJSON(file.path(data_dir, "csi_custom_names.map.json"))[codes]
cases <- list(  # name: file, directory, spec, missing, seed
  csi_single_cc = list("csi_single_cc.csv", "tests/model/data", single_spec, "listwise", 1),
  csi_multi = list("csi_multi.csv", "tests/model/data", std_spec, "listwise", 2),
  csi_custom_names = list("csi_custom_names.csv", "tests/model/data", custom_spec, "listwise", 3),
  csi_missing_ml = list("csi_missing.csv", "tests/model/data", single_spec, "ml", 4),
  csi_ceiling = list("csi_ceiling.csv", "tests/model/bootstrap", single_spec, "listwise", 5)
)
# Each data set can run in its own R process (Rscript make_reference.R NAME writes parts/NAME.json);
# without arguments every part missing is computed, then all parts are merged into reference.json.
part_dir <- Sys.getenv("BOOT_PARTS", "tests/model/bootstrap/parts")
dir.create(part_dir, showWarnings = FALSE)
run_part <- function(name) {
  case <- cases[[name]]
  data_dir <<- case[[2]]
  res <- reference(case[[1]], case[[3]], case[[4]], case[[5]])
  write_json(res, file.path(part_dir, paste0(name, ".json")), auto_unbox = TRUE, digits = NA,
             na = "null", pretty = TRUE)
}
# "merge" writes reference.json from the parts that exist, computing none.
args <- commandArgs(trailingOnly = TRUE)
merge_only <- identical(args, "merge")
if (length(args) > 0 && !merge_only) {
  for (name in args) run_part(name)
  quit(save = "no")
}
part_file <- function(name) file.path(part_dir, paste0(name, ".json"))
if (!merge_only) for (name in names(cases)) if (!file.exists(part_file(name))) run_part(name)
have <- names(cases)[file.exists(vapply(names(cases), part_file, ""))]
datasets <- lapply(have, function(name) fromJSON(part_file(name), simplifyVector = FALSE))
names(datasets) <- have

out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  r_version = R.version.string,
  notes = c(
    "bootstrapLavaan(fit, R = draws, type = 'ordinary', FUN = stat): rows resampled with replacement, every draw refitted by ML (nlminb, no bounds); failed = draws lavaan left out (error.idx).",
    "se = sd of the draws (N - 1); ci = quantile(type = 7) at .025 and .975 (percentile interval); standardized = std.all (beta * sd(from)/sd(to), lambda * sd(latent)/sd(item), model-implied sds).",
    "names: 'TO~FROM' for paths (beta[TO, FROM]), 'CODE=~item' for loadings; fixed marker loadings have se 0.",
    "csi_missing: missing = 'ml' (FIML), rows resampled among the respondents lavaan uses."
  ),
  datasets = datasets
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE)
if (!merge_only) unlink(part_dir, recursive = TRUE)
cat("wrote", out_file, "\n")
