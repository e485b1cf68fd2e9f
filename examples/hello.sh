echo "hello from bash $BASH_VERSION"
id -u
