# The recipes the README names, as command-line flags; sourced by the experiment scripts.
#
# REFERENCE_RECIPE is the original CenterNet's (ctdet, "Objects as Points"): the center box head (size and
# offset at the peak, L1 losses weighted 0.1 and 1), CornerNet's round Gaussians, Adam at 1.25e-4 per 32
# images, no warm-up, the step schedule (lr x0.1 at the epochs of --lr-steps), no weight averaging, the plain
# ResNet's up path (three 256-channel transposed convs, no shortcuts; the DLA bodies ignore it). Every flag
# is explicit (--head-norm none --head-conv 64: the ResNet heads without normalisation, 64 channels; the
# reference's augmentation: random scale 0.4, shift 0.1, flip, colour jitter 0.4, PCA lighting 0.1, no copy-paste;
# its Gaussians without a smallest half-axis), so the recipe stays what it is when the defaults of `centernet train`
# change.
# The default recipe of `centernet train` needs no flags (see centernet/config.py and the README's Results).
REFERENCE_RECIPE=(--box-head center --gaussian round --dfl-bins 0 --no-neck-shortcuts --no-ema
                  --optimizer adam --lr 1.25e-4 --reference-batch 32 --weight-decay 0 --warmup-iters 0
                  --schedule step --heatmap-loss penalty_reduced --heatmap-weight 1 --size-weight 0.1
                  --offset-weight 1 --neck-channels 256 256 256 --head-norm none
                  --head-conv 64 --scale 0.4 --shift 0.1 --flip-probability 0.5 --color-jitter 0.4
                  --pca-lighting 0.1 --gaussian-min-radius 0 --copy-paste 0)

# LR_SCHEDULE is the default recipe's optimisation, the "lr and schedule" row of the learning-speed ablation: Adam
# at 4e-3 per 32 images, 100 iterations of linear warm-up, then half a cosine to 0 over the run.
LR_SCHEDULE=(--optimizer adam --lr 4e-3 --reference-batch 32 --warmup-iters 100 --schedule cosine)
